"""The analysts' saved queries, in the SQL Athena (Trino) and DuckDB share, with `?` parameters bound from
validated values (dates, a card id) — never text spliced into SQL.

    fraud query NAME [--from D] [--to D] [--card N]     # locally, DuckDB over the jobs' output

Locally each table is a DuckDB view (`emr.athena.create_view_duckdb`): the raw table and tables written without a
catalog over their `tx_date=` folders, the Iceberg output tables over exactly the data files of their current
snapshot (or the one current at `as_of`), planned by `emr.iceberg` from the config's catalog.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

from conf import CatalogConf, PathsConf
from conf.storage import is_s3
from emr import iceberg
from emr.athena import TABLES, Table, create_view_duckdb

_RANGE = "tx_date BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)"


class QueryError(ValueError):
    """An unknown query or a missing or malformed parameter."""


@dataclasses.dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    sql: str
    parameters: tuple[str, ...] = ("from", "to")


QUERIES = {q.name: q for q in (
    SavedQuery("daily_volume", "transactions, amount, outcomes and alerted cards per day", f"""
SELECT tx_date,
       COUNT(*) AS transactions,
       ROUND(SUM(tx_amount), 2) AS amount,
       SUM(CASE WHEN outcome = 'investigate' THEN 1 ELSE 0 END) AS investigate_transactions,
       SUM(CASE WHEN outcome = 'review' THEN 1 ELSE 0 END) AS review_transactions,
       COUNT(DISTINCT CASE WHEN outcome = 'investigate' THEN customer_id END) AS alerted_cards
FROM scored_transactions
WHERE {_RANGE}
GROUP BY tx_date
ORDER BY tx_date"""),
    SavedQuery("queue_precision", "share of each day's queued cards that were compromised, once labels are known",
               f"""
SELECT a.tx_date,
       COUNT(*) AS queued_cards,
       SUM(CASE WHEN l.frauds > 0 THEN 1 ELSE 0 END) AS compromised_cards,
       ROUND(CAST(SUM(CASE WHEN l.frauds > 0 THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*), 4) AS precision
FROM fraud_alerts a
LEFT JOIN (SELECT tx_date, customer_id, SUM(tx_fraud) AS frauds
           FROM raw_transactions WHERE {_RANGE} GROUP BY tx_date, customer_id) l
  ON a.tx_date = l.tx_date AND a.customer_id = l.customer_id
WHERE a.{_RANGE}
GROUP BY a.tx_date
ORDER BY a.tx_date""", ("from", "to", "from", "to")),
    SavedQuery("top_risky_terminals", "the 20 terminals with the highest mean risk score (at least 5 transactions)",
               f"""
SELECT terminal_id,
       COUNT(*) AS transactions,
       ROUND(AVG(risk_score), 1) AS mean_risk_score,
       MAX(risk_score) AS max_risk_score,
       SUM(CASE WHEN outcome <> 'pass' THEN 1 ELSE 0 END) AS flagged_transactions
FROM scored_transactions
WHERE {_RANGE}
GROUP BY terminal_id
HAVING COUNT(*) >= 5
ORDER BY mean_risk_score DESC, terminal_id
LIMIT 20"""),
    SavedQuery("score_distribution", "transactions per risk-score band of 50, by outcome", f"""
SELECT CAST(FLOOR(risk_score / 50.0) * 50 AS INTEGER) AS risk_band,
       outcome,
       COUNT(*) AS transactions
FROM scored_transactions
WHERE {_RANGE}
GROUP BY CAST(FLOOR(risk_score / 50.0) * 50 AS INTEGER), outcome
ORDER BY risk_band, outcome"""),
    SavedQuery("amount_vs_score", "mean fraud probability and outcomes per amount band", f"""
SELECT CASE WHEN tx_amount < 20 THEN '0-20' WHEN tx_amount < 50 THEN '20-50' WHEN tx_amount < 100 THEN '50-100'
            WHEN tx_amount < 220 THEN '100-220' ELSE '220+' END AS amount_band,
       COUNT(*) AS transactions,
       ROUND(AVG(fraud_probability), 4) AS mean_probability,
       SUM(CASE WHEN outcome = 'investigate' THEN 1 ELSE 0 END) AS investigate_transactions
FROM scored_transactions
WHERE {_RANGE}
GROUP BY 1
ORDER BY MIN(tx_amount)"""),
    SavedQuery("card_transactions", "one card's scored transactions over the date range", f"""
SELECT tx_datetime, transaction_id, terminal_id, tx_amount, risk_score, outcome, reason_1, reason_2, reason_3
FROM scored_transactions
WHERE customer_id = CAST(? AS BIGINT) AND {_RANGE}
ORDER BY tx_datetime, transaction_id""", ("card", "from", "to")),
    SavedQuery("monitoring_trend", "each monitored day: status, strongest drift, volume and mature-label quality",
               f"""
SELECT tx_date, status, model_version, volume_ratio, max_feature_psi, max_psi_feature, score_psi, max_feature_ks,
       gx_success, labels_mature, average_precision, card_precision_at_k
FROM model_monitoring
WHERE {_RANGE}
ORDER BY tx_date"""),
)}


def bind(query: SavedQuery, values: dict[str, Any]) -> list[Any]:
    """The query's positional parameters from validated values: dates as ISO text, the card as an integer."""
    bound = []
    for name in query.parameters:
        if name not in values or values[name] is None:
            raise QueryError(f"query {query.name} needs --{name}")
        value = values[name]
        try:
            bound.append(dt.date.fromisoformat(str(value)).isoformat() if name in ("from", "to") else int(value))
        except ValueError:
            kind = "number" if name == "card" else "date"
            raise QueryError(f"query {query.name}: --{name} {value!r} is not a {kind}") from None
    return bound


def athena_parameters(query: SavedQuery, values: dict[str, Any]) -> list[str]:
    """The same parameters as Athena's ExecutionParameters (SQL literals: quoted text, bare integers)."""
    return [f"'{v}'" if isinstance(v, str) else str(v) for v in bind(query, values)]


def _is_iceberg_folder(location: str) -> bool:
    return any(Path(location, "metadata").glob("*.metadata.json"))


def _view(table: Table, paths: PathsConf, catalog: CatalogConf | None, as_of: dt.datetime | None,
          sql_catalog) -> str | None:
    location = table.location(paths)
    if is_s3(location):
        raise QueryError(f"{table.name}: {location} is on S3, which the local engine does not read (DuckDB reads S3 "
                         "only through its httpfs extension, a run-time download): run the query in Athena")
    files = None
    if table.iceberg and sql_catalog is not None:
        files = iceberg.snapshot_files(catalog, table.name, location, as_of, sql_catalog)
    if files is None and _is_iceberg_folder(location):
        # its folders also hold replaced files: only the catalog knows which are current
        which = ("no catalog was given" if sql_catalog is None else
                 "the config's catalog does not list it (catalog.uri / catalog.namespace)")
        raise QueryError(f"{table.name}: {location} is an Iceberg table and {which}: the local view reads it only "
                         "through its catalog")
    return create_view_duckdb(table, paths, files)


def local_connection(paths: PathsConf, catalog: CatalogConf | None = None,
                     as_of: dt.datetime | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table that has local data; the Iceberg tables through `catalog` (the
    config's; None or kind null: Parquet folders only), as of `as_of` (now for None)."""
    sql_catalog = None
    try:
        if catalog is not None and catalog.kind is not None:
            sql_catalog = iceberg.open_catalog(catalog)
        connection = duckdb.connect()
        for table in TABLES.values():
            view = _view(table, paths, catalog, as_of, sql_catalog)
            if view:
                connection.execute(view)
    except iceberg.IcebergReadError as error:
        raise QueryError(str(error)) from None
    return connection


def run_local(name: str, values: dict[str, Any], paths: PathsConf, catalog: CatalogConf | None = None,
              as_of: dt.datetime | None = None):
    """(column names, rows) of a saved query on the local output (see `local_connection`)."""
    if name not in QUERIES:
        raise QueryError(f"unknown query {name!r}; saved queries: {', '.join(QUERIES)}")
    query = QUERIES[name]
    cursor = local_connection(paths, catalog, as_of).execute(query.sql, bind(query, values))
    return [d[0] for d in cursor.description], cursor.fetchall()
