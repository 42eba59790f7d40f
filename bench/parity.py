"""Row-by-row comparison of our feature table with a peer's output (both Parquet), in DuckDB.

    python bench/parity.py FEATURES_TABLE PEER_OUT.parquet [--tolerance 1e-6]

Prints, per feature, how many rows differ, and how many of those rows share their second with another
transaction of the same card or terminal (the same-second ties the handbook allows to differ).
"""
from __future__ import annotations

import argparse
import json
import sys

import duckdb

from expectations.contracts import feature_names

FEATURES = feature_names((1, 7, 30), (1, 7, 30))


def compare(features_table: str, peer_file: str, tolerance: float = 1e-6) -> dict:
    con = duckdb.connect()
    con.execute(f"""
        CREATE TEMP TABLE ours AS SELECT * FROM read_parquet('{features_table}/*/*.parquet', hive_partitioning=true);
        CREATE TEMP TABLE peer AS SELECT * FROM read_parquet('{peer_file}');
        CREATE TEMP TABLE ties AS
          SELECT transaction_id FROM (
            SELECT transaction_id,
                   count(*) OVER (PARTITION BY customer_id, epoch(tx_datetime)::BIGINT) AS card_peers,
                   count(*) OVER (PARTITION BY terminal_id, epoch(tx_datetime)::BIGINT) AS terminal_peers
            FROM ours) WHERE card_peers > 1 OR terminal_peers > 1;
    """)
    differs = " OR ".join(f"abs(o.{f} - p.{f.upper()}) > {tolerance}" for f in FEATURES)
    per_feature = ", ".join(f"sum((abs(o.{f} - p.{f.upper()}) > {tolerance})::INT) AS {f}" for f in FEATURES)
    row = con.execute(f"""
        SELECT (SELECT count(*) FROM ours) AS ours_rows, (SELECT count(*) FROM peer) AS peer_rows,
               count(*) AS joined_rows,
               sum(({differs})::INT) AS mismatched_rows,
               sum((({differs}) AND t.transaction_id IS NULL)::INT) AS mismatched_rows_without_tie,
               {per_feature}
        FROM ours o JOIN peer p ON o.transaction_id = p.TRANSACTION_ID
        LEFT JOIN ties t ON t.transaction_id = o.transaction_id
    """).fetchone()
    names = [d[0] for d in con.description]
    return dict(zip(names, row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("features_table")
    parser.add_argument("peer_file")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args(argv)
    result = compare(args.features_table, args.peer_file, args.tolerance)
    print(json.dumps(result, indent=2))
    return 0 if result["mismatched_rows_without_tie"] == 0 and result["ours_rows"] == result["joined_rows"] else 1


if __name__ == "__main__":
    sys.exit(main())
