"""Athena tables over the jobs' output, and the same tables as local DuckDB views.

One definition per table (`TABLES`) gives both its Athena DDL and its DuckDB view:
- `raw_transactions` (always Parquet folders, `tx_date=YYYY-MM-DD/`): an external Parquet table with partition
  projection on `tx_date`, so new dates need no `MSCK REPAIR`; its view reads the folders.
- the four output tables (`iceberg`): Apache Iceberg tables (`jobs.tables`; on S3 they always are, as S3 needs a
  catalog), so the DDL is Athena's Iceberg `CREATE TABLE` (no projection: Iceberg's metadata lists the files). Their
  folders also hold the replaced files of older snapshots, so a view never globs them: `emr.iceberg` plans the
  current snapshot's data files and the view reads exactly those (or the folders, for tables written without a
  catalog).
Saved queries (`emr.queries`) are written in the SQL that Athena (Trino) and DuckDB share.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Sequence

import duckdb

from conf import FAMILY_INPUTS, PathsConf
from conf.storage import s3_uri

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
# The first tx_date projected when neither `emr.projection_start` nor the data gives one: a table without data
# yet, or a definition written without listing the table (`fraud definitions`, `fraud emr publish`). Early, so
# that older history is not silently invisible; a query without a tx_date filter lists one prefix a day from it.
DEFAULT_PROJECTION_START = dt.date(2000, 1, 1)


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    paths_key: str  # the config's paths.<key> the table lives under
    suffix: str  # the table's folder below it ("" for the folder itself)
    columns: tuple[tuple[str, str], ...]  # (name, Athena type); tx_date is the partition
    iceberg: bool = True  # an output table of `jobs.tables`: Iceberg in a catalog (Parquet folders without one)

    def location(self, paths: PathsConf) -> str:
        root = getattr(paths, self.paths_key).rstrip("/")
        return f"{root}/{self.suffix}" if self.suffix else root


_FEATURES = tuple((f"customer_id_{kind}_{n}day_window", "int" if kind == "nb_tx" else "double")
                  for n in (1, 7, 30) for kind in ("nb_tx", "avg_amount")) + tuple(
    (f"terminal_id_{kind}_{n}day_window", "int" if kind == "nb_tx" else "double")
    for n in (1, 7, 30) for kind in ("nb_tx", "risk"))
_RAW = (("transaction_id", "bigint"), ("tx_datetime", "timestamp"), ("customer_id", "bigint"),
        ("terminal_id", "bigint"), ("tx_amount", "double"), ("tx_time_seconds", "bigint"), ("tx_time_days", "int"),
        ("tx_fraud", "int"), ("tx_fraud_scenario", "int"))
_REASONS = tuple(c for i in (1, 2, 3) for c in ((f"reason_{i}", "string"), (f"reason_{i}_contribution", "double")))

TABLES = {t.name: t for t in (
    Table("raw_transactions", "raw", "transactions", _RAW, iceberg=False),
    Table("transaction_features", "features", "",
          _RAW + (("tx_during_weekend", "int"), ("tx_during_night", "int")) + _FEATURES),
    Table("scored_transactions", "publish", "scored",
          (("transaction_id", "bigint"), ("tx_datetime", "timestamp"), ("customer_id", "bigint"),
           ("terminal_id", "bigint"), ("tx_amount", "double"))
          + (("tx_during_weekend", "double"), ("tx_during_night", "double"))
          + tuple((name, "double") for name, _ in _FEATURES)
          # the issue 9 families' inputs (the default model inputs; scoring casts every input to double): null on
          # days scored by a model without them
          + tuple((name, "double") for name in FAMILY_INPUTS)
          + (("tx_fraud", "int"), ("fraud_probability", "double"), ("risk_score", "int"), ("outcome", "string"))
          # the anomaly signals (anomaly.enabled): null on days scored without them, as Athena reads absent columns
          + (("kmeans_distance", "double"), ("isolation_forest_score", "double"))
          + _REASONS + (("model_name", "string"), ("model_version", "string"), ("mlflow_run_id", "string"),
                        ("scored_at", "timestamp"))),
    Table("fraud_alerts", "publish", "alerts",
          (("alert_rank", "int"), ("customer_id", "bigint"), ("max_probability", "double"),
           ("max_risk_score", "int"), ("transactions", "bigint"), ("total_amount", "double"),
           ("transaction_ids", "array<bigint>"), ("reason_1", "string"), ("reason_2", "string"),
           ("reason_3", "string"), ("known_fraud", "int"), ("model_version", "string"))),
    Table("model_monitoring", "publish", "monitoring",
          (("model_version", "string"), ("mlflow_run_id", "string"), ("rows", "bigint"),
           ("reference_rows_per_day", "double"), ("volume_ratio", "double"), ("alerted_cards", "bigint"),
           ("mean_score", "double"), ("score_psi", "double"), ("score_ks", "double"), ("max_feature_psi", "double"),
           ("max_psi_feature", "string"), ("max_feature_ks", "double"), ("max_ks_feature", "string"),
           ("feature_psi", "map<string,double>"), ("feature_ks", "map<string,double>"), ("gx_success", "boolean"),
           ("gx_failures", "array<string>"), ("labels_mature", "boolean"), ("frauds", "bigint"),
           ("auc_roc", "double"), ("average_precision", "double"), ("card_precision_at_k", "double"),
           ("status", "string"), ("breaches", "array<string>"), ("run_id", "string"),
           ("monitored_at", "timestamp"))),
)}


def identifier(name: str) -> str:
    if not IDENTIFIER.match(name or ""):
        raise ValueError(f"{name!r} is not a valid table or database name (lower-case letters, digits, _)")
    return name


def _location(table: Table, paths: PathsConf) -> str:
    location = s3_uri(table.location(paths)) + "/"  # Athena names S3 objects s3:// only (s3a:// is the same)
    if not location.startswith("s3://") or re.search(r"['\"\\\s;]", location):
        raise ValueError(f"{location!r} is not an s3:// location Athena can read")
    return location


def projection_start(configured: dt.date | None, earliest: dt.date | None) -> dt.date:
    """The first tx_date Athena projects: `emr.projection_start` when set, else the table's earliest date, else
    DEFAULT_PROJECTION_START. Athena sees no date before it."""
    return configured or earliest or DEFAULT_PROJECTION_START


def projection_properties(location: str, start: dt.date = DEFAULT_PROJECTION_START) -> dict[str, str]:
    """Athena partition projection on tx_date from `start` to today over the folders below `location` (which
    ends with /)."""
    return {
        "projection.enabled": "true", "projection.tx_date.type": "date",
        "projection.tx_date.format": "yyyy-MM-dd", "projection.tx_date.range": f"{start.isoformat()},NOW",
        "projection.tx_date.interval": "1", "projection.tx_date.interval.unit": "DAYS",
        "storage.location.template": f"{location}tx_date=${{tx_date}}/",
    }


def s3_location(table: Table, paths: PathsConf) -> str:
    """The table's s3:// folder (ending with /), checked to be something Athena can read."""
    return _location(table, paths)


def create_table_ddl(table: Table, database: str, paths: PathsConf,
                     start: dt.date = DEFAULT_PROJECTION_START) -> str:
    """Athena's DDL of the table: for an Iceberg table, Iceberg's `CREATE TABLE` (an empty table at the location,
    for a catalog where the jobs have not created it yet: on EMR Spark's Glue catalog creates them itself); for
    the raw table, `CREATE EXTERNAL TABLE` with partitions projected from the folder names (tx_date=YYYY-MM-DD)
    from `start` on."""
    location = _location(table, paths)
    name = f"`{identifier(database)}`.`{identifier(table.name)}`"
    columns = ",\n".join(f"  `{identifier(name)}` {kind}" for name, kind in table.columns)
    if table.iceberg:
        # Athena's Iceberg DDL: the partition column is declared with the others and named, untyped, after
        return (f"CREATE TABLE {name} (\n{columns},\n  `tx_date` date\n)\nPARTITIONED BY (`tx_date`)\n"
                f"LOCATION '{location}'\nTBLPROPERTIES (\n  'table_type'='ICEBERG',\n  'format'='parquet'\n)")
    properties = ",\n".join(f"  '{k}'='{v}'" for k, v in projection_properties(location, start).items())
    return (f"CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n"
            f"{columns}\n)\nPARTITIONED BY (`tx_date` date)\nSTORED AS PARQUET\nLOCATION '{location}'\n"
            f"TBLPROPERTIES (\n{properties}\n)")


_DUCKDB_TYPES = {"bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "string": "VARCHAR",
                 "timestamp": "TIMESTAMP", "array<bigint>": "BIGINT[]", "boolean": "BOOLEAN",
                 "array<string>": "VARCHAR[]", "map<string,double>": "MAP(VARCHAR, DOUBLE)"}


def _quoted(name: str) -> str:
    return f'"{name}"'


def create_view_duckdb(table: Table, paths: PathsConf, files: Sequence[str] | None = None) -> str | None:
    """The same table as a DuckDB view (None when it holds no data yet): over `files`, the data files of an
    Iceberg table's snapshot (plain local paths, `emr.iceberg.snapshot_files`), or else over the local folders
    `tx_date=*/*.parquet`."""
    if files is None:
        folder = Path(table.location(paths))
        if not any(folder.glob("tx_date=*/*.parquet")):
            return None
        pattern = str(folder / "tx_date=*" / "*.parquet").replace("'", "''")
        source = f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"
    elif not files:
        return None
    else:
        # Iceberg writes the partition column into each file; the folder names are not read
        listed = ", ".join("'" + path.replace("'", "''") + "'" for path in files)
        source = f"read_parquet([{listed}], hive_partitioning = false, union_by_name = true)"
    # Athena reads a column no file holds as null; DuckDB would refuse it, so it is written as a typed null
    present = {row[0] for row in duckdb.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    columns = ", ".join(f"CAST({_quoted(n) if n in present else 'NULL'} AS {_DUCKDB_TYPES[k]}) AS {_quoted(n)}"
                        for n, k in table.columns)
    return (f"CREATE OR REPLACE VIEW {identifier(table.name)} AS SELECT {columns}, CAST(tx_date AS DATE) AS tx_date "
            f"FROM {source}")
