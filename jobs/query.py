"""Run a saved analyst query locally: DuckDB over the jobs' output (the tables Athena reads on AWS): Parquet folders,
or with an Iceberg catalog (`catalog.kind: jdbc`) the data files of each table's current snapshot, or of the
snapshot current at --as-of.

    fraud query NAME [--from D] [--to D] [--card N] [--as-of "YYYY-MM-DD HH:MM:SS"] [--config ...]
    fraud query --list
"""
from __future__ import annotations

import datetime as dt
import sys

from emr.queries import QUERIES, run_local
from jobs.common import base_parser, iso_date, parse_config


def format_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [columns, *[[("" if v is None else str(v)) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [f"({len(rows)} rows)"])


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud query daily_volume --from 2018-09-24 --to 2018-09-30")
    parser.add_argument("name", nargs="?", help="a saved query (see --list)")
    parser.add_argument("--list", action="store_true", help="list the saved queries")
    parser.add_argument("--from", dest="from_", type=iso_date, help="first date (default 2018-01-01)")
    parser.add_argument("--to", type=iso_date, help="last date (default 2999-12-31)")
    parser.add_argument("--card", type=int, help="customer id, for card_transactions")
    parser.add_argument("--as-of", type=dt.datetime.fromisoformat,
                        help="UTC time: the Iceberg tables as they were then (time travel)")
    args = parser.parse_args(argv)
    if args.list or not args.name:
        print("\n".join(f"{q.name:<22}{q.description}  (params: {', '.join(q.parameters)})"
                        for q in QUERIES.values()))
        return 0
    config = parse_config(args)
    values = {"from": args.from_ or "2018-01-01", "to": args.to or "2999-12-31", "card": args.card}
    columns, rows = run_local(args.name, values, config.paths, config.catalog if config.catalog.kind else None,
                              args.as_of)
    print(format_table(columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
