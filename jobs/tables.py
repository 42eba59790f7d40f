"""The output tables (features, scored transactions, alerts, monitoring, the ingest job's output, and each one's
quarantine): Apache Iceberg tables in the config's catalog, partitioned by `tx_date`; or, in a run without a
catalog (`catalog.kind: null`: the default local run, which needs no jars), plain Parquet folders.

An Iceberg write replaces the requested dates in one commit: one atomic swap of the table's metadata pointer in
its catalog (a row in SQLite for the embedded JDBC catalog, the Glue Data Catalog on EMR). A reader sees the old
snapshot or the new one, never a mix; a run killed before its commit leaves no visible change (its data files are
orphans until `maintain` removes them); of two runs committing the same table at once, the second retries on top
of the first, so the table holds one run's rows, never both. The old snapshot stays queryable (time travel) until
the retention expires it. Nothing here renames files, so S3 is as safe as a local disk.

A Parquet-folder write (local folders only) uses Spark's dynamic partition overwrite: dates are replaced one by
one, so a reader can see a mix during a write and a killed write can leave a date missing until the re-run. That
is the development default; anything shared, and everything on S3, uses a catalog.

A table is known by its location (the command line's paths, as before) and, in a catalog, by the identifier
`<catalog>.<namespace>.<name>`, the names being those Athena knows them by (`emr.athena.TABLES`; a quarantine is
`<name>_quarantine`): one name holds one location, and a second location under the same name is refused (use
another `catalog.namespace`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Iterator

from pyspark.sql import Column, DataFrame, SparkSession, functions as F

from conf import ConfigError
from conf.storage import absolute_location, catalog_settings, is_s3, s3_uri
from expectations.contracts import PARTITION_COLUMN, TableContract
from expectations.quarantine import conform, require_schema
from jobs import files
from jobs.files import Partition

# the output tables' names in the catalog (and in Athena)
INGESTED, FEATURES, SCORED, ALERTS, MONITORING = ("ingested_transactions", "transaction_features",
                                                  "scored_transactions", "fraud_alerts", "model_monitoring")
QUARANTINE_SUFFIX = "_quarantine"
PAUSE_ENV = "FRAUD_PAUSE_AT"
CATALOG_ATTEMPTS = 3
log = logging.getLogger("fraud")
RUN_PROPERTY, JOB_PROPERTY = "run-id", "fraud-job"  # in each commit's snapshot summary


@dataclass(frozen=True)
class Table:
    location: str
    identifier: str | None = None  # <catalog>.<namespace>.<name> of an Iceberg table; None: Parquet folders

    @property
    def iceberg(self) -> bool:
        return self.identifier is not None

    def __str__(self) -> str:
        return f"{self.identifier} ({self.location})" if self.identifier else self.location


def output_table(config, location: str, name: str) -> Table:
    """Table `name` that a job writes at `location`: Iceberg in the config's catalog, or Parquet folders without
    one."""
    if config.catalog.kind is None:
        if is_s3(location):
            raise ConfigError(f"{location}: tables on S3 need an Iceberg catalog (catalog.kind: jdbc or glue; "
                              "conf/s3-local.yaml and conf/emr.yaml set one): S3 has no atomic rename for a "
                              "Parquet folder's commit")
        return Table(location)
    return Table(location, f"{config.catalog.name}.{config.catalog.namespace}.{name}")


def name_of(table: Table) -> str:
    return table.identifier.rsplit(".", 1)[-1] if table.identifier else table.location.rstrip("/").rsplit("/", 1)[-1]


def quarantine_of(config, table: Table, name: str) -> Table:
    """The quarantine table of table `name`: `<name>_quarantine`, beside it at `<location>_quarantine`."""
    return output_table(config, table.location.rstrip("/") + QUARANTINE_SUFFIX, name + QUARANTINE_SUFFIX)


def input_table(spark: SparkSession, config, location: str, name: str) -> Table:
    """The table a job reads at `location`: the catalog's table `name`, when it is there; else Parquet folders
    (the raw input, or tables written without a catalog)."""
    if config.catalog.kind is None:
        return Table(location)
    use_catalog(spark, config)
    table = output_table(config, location, name)
    if exists(spark, table) and _same_location(registered_location(spark, table), location):
        return table
    return Table(location)


def use_catalog(spark: SparkSession, config) -> None:
    """Register the config's catalog in `spark` (a session built for another config, e.g. a test's), failing with
    a clear message when the session has no Iceberg runtime on its class path."""
    if config.catalog.kind is None:
        return
    if "JavaClass" not in type(spark._jvm.org.apache.iceberg.spark.SparkCatalog).__name__:
        raise ConfigError("this Spark session has no Iceberg runtime (catalog.kind is set): build it with "
                          "jobs.common.build_session, or pass the jars of `fraud jars iceberg` to spark-submit --jars")
    for key, value in catalog_settings(config).items():
        if key.startswith("spark.sql.catalog.") and spark.conf.get(key, None) != value:
            spark.conf.set(key, value)
    with catalog_lock(spark, config.catalog.name):
        spark.sql(f"SHOW NAMESPACES IN {config.catalog.name}").collect()  # loads (and first creates) the catalog


@contextlib.contextmanager
def catalog_lock(spark: SparkSession, catalog: str) -> Iterator[None]:
    """Hold the embedded catalog's lock file (`<catalog.db>.lock`, an OS file lock, released if the process dies)
    while changing the catalog: SQLite fails, rather than waits, a writer whose transaction would deadlock with
    another process's, so runs on one machine take turns to commit. The Glue catalog needs none (its own optimistic
    locking: Iceberg retries a commit that lost)."""
    uri = spark.conf.get(f"spark.sql.catalog.{catalog}.uri", "") or ""
    if not uri.startswith("jdbc:sqlite:"):
        yield
        return
    with open(uri.removeprefix("jdbc:sqlite:") + ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def exists(spark: SparkSession, table: Table) -> bool:
    if table.iceberg:
        return spark.catalog.tableExists(table.identifier)
    fs, path = files._fs(spark, table.location)
    return fs.exists(path)


def registered_location(spark: SparkSession, table: Table) -> str:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table.identifier}").where("col_name = 'Location'").collect()
    return rows[0]["data_type"]


def _same_location(a: str, b: str) -> bool:
    def norm(location: str) -> str:
        location = s3_uri(location.rstrip("/"))
        return absolute_location(location.removeprefix("file://").removeprefix("file:"))
    return norm(a) == norm(b)


def partitions(spark: SparkSession, table: Table) -> dict[dt.date, Partition]:
    """The table's dates with their data files ({} if there is no table): for Iceberg, the current snapshot's
    (its `files` metadata table: no data read)."""
    if not table.iceberg:
        return files.list_partitions(spark, table.location)
    if not exists(spark, table):
        return {}
    found: dict[dt.date, list[str]] = {}
    for row in spark.sql(f"SELECT partition.{PARTITION_COLUMN} AS date, file_path FROM {table.identifier}.files "
                         "WHERE content = 0").collect():  # one row a data file
        found.setdefault(row["date"], []).append(row["file_path"])
    return {date: Partition(date, table.location, tuple(paths)) for date, paths in found.items()}


def read(spark: SparkSession, table: Table, chosen: list[Partition], contract: TableContract,
         allow_extra_columns: bool, keep_extra: bool = False) -> DataFrame:
    """The rows of the `chosen` dates conformed to `contract` (see `jobs.files.read_partitions`); an Iceberg
    table's schema is checked once, as the table's."""
    if not table.iceberg:
        return files.read_partitions(spark, table.location, chosen, contract, allow_extra_columns, keep_extra)
    rows = spark.table(table.identifier).where(F.col(PARTITION_COLUMN).isin([p.date for p in chosen]))
    require_schema(rows.schema, contract, str(table), allow_extra_columns)
    known = {name.lower() for name in (*contract.columns, PARTITION_COLUMN)}
    extra = tuple(n for n in rows.columns if n.lower() not in known) if keep_extra else ()
    return conform(rows, contract, extra)


def read_all(spark: SparkSession, table: Table) -> DataFrame:
    """Every row of the table as it is now."""
    return spark.table(table.identifier) if table.iceberg else spark.read.parquet(table.location)


def write_dates(df: DataFrame, table: Table, dates: list[dt.date], run_id: str, job: str,
                replace: Column | None = None) -> int | None:
    """Make `dates` of `table` exactly `df`'s rows (a date without rows in `df` is removed; other dates are
    untouched). Iceberg: one commit whose snapshot summary carries `run-id` and `fraud-job`, the table created on
    first use, partitioned by date; `replace` widens what the commit replaces (aligned with the partitions).
    Returns the snapshot id (None for Parquet folders)."""
    pause_point(f"write {name_of(table)}")
    if os.environ.get(PAUSE_ENV) == f"during write {name_of(table)}":
        df = df.mapInPandas(_stall_after_first_batch, df.schema)
    spark = df.sparkSession
    if not table.iceberg:
        present = {r[0] for r in df.select(PARTITION_COLUMN).distinct().collect()}  # one row a date
        df.write.mode("overwrite").option("partitionOverwriteMode", "dynamic").partitionBy(PARTITION_COLUMN) \
            .parquet(table.location)
        files.remove_partitions(spark, table.location, [d for d in dates if d not in present])
        return None
    condition = F.col(PARTITION_COLUMN).isin(list(dates))
    for attempt in range(CATALOG_ATTEMPTS):
        try:
            with catalog_lock(spark, table.identifier.split(".", 1)[0]):
                _create_if_missing(df, table)
                (df.writeTo(table.identifier).option("mergeSchema", "true")
                 .option(f"snapshot-property.{RUN_PROPERTY}", run_id)
                 .option(f"snapshot-property.{JOB_PROPERTY}", job)
                 .overwrite(condition if replace is None else condition | replace))
                return snapshot_of_run(spark, table, run_id)
        except Exception as error:
            # an embedded catalog's connection that still reads the database as it was before another run's
            # commit (SQLite: SQLITE_BUSY_SNAPSHOT): reload the catalogs (new connections) and write again; the
            # write replaces the same dates with the same rows, so a second attempt is safe
            if "SQLITE_BUSY" not in str(error) or attempt == CATALOG_ATTEMPTS - 1:
                raise
            log.warning("%s: the catalog's connection was stale (%s); reloading it and writing again", table,
                        "SQLITE_BUSY")
            spark._jsparkSession.sessionState().catalogManager().reset()
    raise AssertionError("unreachable")


def _create_if_missing(df: DataFrame, table: Table) -> None:
    spark = df.sparkSession
    if not exists(spark, table):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {table.identifier.rsplit('.', 1)[0]}")
        (df.limit(0).writeTo(table.identifier).using("iceberg").partitionedBy(F.col(PARTITION_COLUMN))
         .tableProperty("location", absolute_location(table.location)).tableProperty("format-version", "2")
         .tableProperty("write.spark.accept-any-schema", "true")
         # the jobs hand over rows already partitioned by date (one task a date): no shuffle or sort of Iceberg's own
         .tableProperty("write.distribution-mode", "none").tableProperty("write.spark.fanout.enabled", "true")
         .create())
    registered = registered_location(spark, table)
    if not _same_location(registered, table.location):
        raise ConfigError(f"catalog table {table.identifier} is at {registered}, not {table.location}: one name "
                          "holds one location (set catalog.namespace to keep both)")


def snapshot_of_run(spark: SparkSession, table: Table, run_id: str) -> int | None:
    """The id of the last snapshot run `run_id` committed to Iceberg table `table`."""
    rows = spark.sql(f"SELECT snapshot_id FROM {table.identifier}.snapshots WHERE summary['{RUN_PROPERTY}'] = "
                     f"'{run_id}' ORDER BY committed_at DESC LIMIT 1").collect()
    return rows[0]["snapshot_id"] if rows else None


def pause_point(name: str) -> None:
    """Test hook of the kill tests (tests/reliability/): with FRAUD_PAUSE_AT=<name> the job says so on stderr and
    sleeps at this point until it is killed. Points: `write <table name>`, before each table's write (earlier
    tables of the run committed), and `during write <table name>`, in the write's tasks once each has handed its
    first rows to the table's writer (nothing committed)."""
    if os.environ.get(PAUSE_ENV) == name:
        print(f"{PAUSE_ENV}: paused at {name}", file=sys.stderr, flush=True)
        time.sleep(3600)


def _stall_after_first_batch(batches):
    """`during write ...`: pass the first batch of rows on, then stall (in the task, while the writer has it)."""
    for batch in batches:
        yield batch
        print(f"{PAUSE_ENV}: paused at {os.environ[PAUSE_ENV]}", file=sys.stderr, flush=True)
        time.sleep(3600)


def config_tables(config) -> dict[str, Table]:
    """The output tables at the config's paths, by name (the ingest job's live wherever its --output says)."""
    publish = config.paths.publish.rstrip("/")
    tables = {FEATURES: output_table(config, config.paths.features, FEATURES),
              SCORED: output_table(config, f"{publish}/scored", SCORED),
              ALERTS: output_table(config, f"{publish}/alerts", ALERTS),
              MONITORING: output_table(config, f"{publish}/monitoring", MONITORING)}
    for name in (FEATURES, SCORED):
        tables[name + QUARANTINE_SUFFIX] = quarantine_of(config, tables[name], name)
    return tables
