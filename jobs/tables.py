"""Reading and writing the date-partitioned Parquet tables (`<table>/tx_date=YYYY-MM-DD/part-*.parquet`) on
any Hadoop file system Spark knows (local paths, `s3://` through EMRFS, `s3a://`).

Reads list only the partitions a job needs and check every file's own schema (its Parquet footer) against the
table's contract before a row is read; the feature job's writes are staged and then committed date by date.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, functions as F, types as T

from conf.storage import bucket_root, explain
from expectations.contracts import PARTITION_COLUMN, ContractError, TableContract
from expectations.quarantine import NANOSECOND_TIMESTAMP, conform, require_schema

PARTITION_PREFIX = f"{PARTITION_COLUMN}="
FOOTER_THREADS = 16
# pandas writes datetime64[ns] as nanosecond timestamps, which Spark 3.5 reads only as their bigint count (this
# legacy setting, set on the session when a footer holds one); the column is marked and read as a timestamp
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
NANOS_HINT = " (nanosecond timestamps: write microseconds, e.g. pandas to_parquet(..., coerce_timestamps='us'))"
STAGING = "_staging"
# A run seen from another host is taken for dead after this long: a commit only renames, a staging computes.
COMMIT_TIMEOUT_SECONDS = 15 * 60
STAGING_TIMEOUT_SECONDS = 24 * 3600
PAUSE_ENV = "FRAUD_PAUSE_AT"
log = logging.getLogger("fraud")


@dataclass(frozen=True)
class Partition:
    date: dt.date
    path: str
    files: tuple[str, ...]


def _fs(spark: SparkSession, path: str):
    jvm_path = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jvm_path.getFileSystem(spark._jsc.hadoopConfiguration()), jvm_path


def require_locations(spark: SparkSession, *uris: str | None) -> None:
    """Stop before anything is read or written when a location's store cannot be used: for each S3 bucket among
    `uris`, one probe through the session's own file system (so its endpoint, credentials and connector), which
    fails with a `StorageError` naming the URI when the bucket does not exist, the endpoint does not answer or no
    credentials are found. Local paths need no probe."""
    probed = set()
    for uri in filter(None, uris):
        root = bucket_root(uri)
        if root is None or root in probed:
            continue
        probed.add(root)
        try:
            fs, path = _fs(spark, uri)
            fs.exists(path)  # the bucket root's own status is made up by S3A without a request; a key's is not
        except Exception as exc:  # Py4JJavaError: the JVM's exception, classified by its text
            raise explain(uri, exc, spark.sparkContext._jsc.hadoopConfiguration().get("fs.s3a.endpoint")) from None


def list_partitions(spark: SparkSession, table: str) -> dict[dt.date, Partition]:
    """The table's date partitions with their data files (hidden `_`/`.` files excluded); {} if no table."""
    fs, root = _fs(spark, table)
    if not fs.exists(root):
        return {}
    partitions = {}
    for status in fs.listStatus(root):
        name = status.getPath().getName()
        if not (status.isDirectory() and name.startswith(PARTITION_PREFIX)):
            continue
        try:
            date = dt.date.fromisoformat(name[len(PARTITION_PREFIX):])
        except ValueError:
            raise ContractError("table", table, PARTITION_COLUMN, "partition_name",
                                f"directory {name!r} is not {PARTITION_PREFIX}YYYY-MM-DD") from None
        files = tuple(
            str(f.getPath().toString()) for f in fs.listStatus(status.getPath())
            if f.isFile() and not f.getPath().getName().startswith(("_", "."))
        )
        partitions[date] = Partition(date, str(status.getPath().toString()), files)
    return partitions


def _nanosecond_columns(message) -> list[str]:
    """The top-level columns of a Parquet schema that hold nanosecond timestamps."""
    return [f.getName() for f in message.getFields()
            if f.isPrimitive() and "TIMESTAMP(NANOS" in str(f.getLogicalTypeAnnotation())]


def _marked(schema: T.StructType, nanos: list[str]) -> T.StructType:
    return T.StructType([T.StructField(f.name, f.dataType, f.nullable, {**f.metadata, NANOSECOND_TIMESTAMP: True})
                         if f.name in nanos else f for f in schema.fields])


def file_schemas(spark: SparkSession, files: list[str], table_name: str) -> dict[str, T.StructType]:
    """Each data file's own schema, from its Parquet footer as Spark would read it (footers read in parallel
    threads on the driver: a few kilobytes a file, no data). An unreadable file is a `ContractError` naming it."""
    jvm = spark._jvm
    converter = jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(
        spark._jsparkSession.sessionState().conf())
    hadoop_conf = spark._jsc.hadoopConfiguration()
    no_filter = jvm.org.apache.parquet.format.converter.ParquetMetadataConverter.NO_FILTER

    def read(file: str) -> T.StructType:
        try:
            footer = jvm.org.apache.parquet.hadoop.ParquetFileReader.readFooter(
                hadoop_conf, jvm.org.apache.hadoop.fs.Path(file), no_filter)
            message = footer.getFileMetaData().getSchema()
            nanos = _nanosecond_columns(message)
            if not nanos:
                return T.StructType.fromJson(json.loads(converter.convert(message).json()))
            spark.conf.set(NANOS_AS_LONG, "true")
            as_long = jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(
                spark._jsparkSession.sessionState().conf())
            return _marked(T.StructType.fromJson(json.loads(as_long.convert(message).json())), nanos)
        except Exception as exc:  # a damaged file, or a type Spark cannot read (e.g. nanosecond timestamps)
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = NANOS_HINT if "NANOS" in detail else ""
            raise ContractError(table_name, file, None, "readable_parquet", detail[:300] + hint) from None

    with ThreadPoolExecutor(max_workers=FOOTER_THREADS) as pool:
        return dict(zip(files, pool.map(read, files)))


def read_partitions(spark: SparkSession, table: str, partitions: list[Partition], contract: TableContract,
                    allow_extra_columns: bool, keep_extra: bool = False) -> DataFrame:
    """Rows of `partitions` conformed to `contract`, with `source_file`. Every file's own schema is checked
    first, so a file that breaks the contract stops the read with a `ContractError` naming it; files written
    with other readable types (any integer width, float32, a timestamp without a zone: `readable_as`) or other
    cases of the names are read group by group and cast to the contract's types and names, a value that does not
    fit carrying its reason in `_cast_reason` (`conform`). With
    `keep_extra` (and extra columns allowed), columns outside the contract follow it (null in files without)."""
    files = [f for p in partitions for f in p.files]
    if not files:
        raise ContractError(contract.name, table, None, "not_empty", "the selected partitions hold no data files")
    schemas = file_schemas(spark, files, contract.name)
    groups: dict[str, list[str]] = {}
    for file, schema in schemas.items():
        with_partition = T.StructType([*schema.fields, T.StructField(PARTITION_COLUMN, T.DateType())])
        require_schema(with_partition, contract, file, allow_extra_columns)
        groups.setdefault(with_partition.json(), []).append(file)
    known = {name.lower() for name in (*contract.columns, PARTITION_COLUMN)}
    parts = []
    for schema, group in groups.items():
        read_schema = T.StructType.fromJson(json.loads(schema))
        extra = tuple(n for n in read_schema.fieldNames() if n.lower() not in known) if keep_extra else ()
        parts.append(conform(spark.read.schema(read_schema).option("basePath", table).parquet(*group), contract,
                             extra))
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)


def table_path(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file (a report beside a table) on any Hadoop file system, S3 included."""
    fs, target = _fs(spark, path)
    stream = fs.create(target, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(spark: SparkSession, path: str) -> str | None:
    """A small text file beside a table (a `_` file, which Hadoop input formats skip); None if it does not exist."""
    fs, source = _fs(spark, path)
    if not fs.exists(source):
        return None
    stream = fs.open(source)
    try:
        return spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def partition_path(table: str, date: dt.date) -> str:
    return table_path(table, f"{PARTITION_PREFIX}{date}")


def remove_partitions(spark: SparkSession, table: str, dates: list[dt.date]) -> None:
    fs, _ = _fs(spark, table)
    for date in dates:
        path = spark._jvm.org.apache.hadoop.fs.Path(partition_path(table, date))
        if fs.exists(path):
            fs.delete(path, True)


def stage_partitioned(df: DataFrame, table: str, run_id: str) -> str:
    """Write `df` by date under `<table>/_staging/<run_id>/` (invisible to readers of the table: Spark, Athena and
    DuckDB skip `_` folders); `commit_staged` moves it into place. A lease beside it names the run's driver, so
    that a later run can tell a dead run's leftovers from a live run's (see `recover`)."""
    staging = table_path(table, f"{STAGING}/{run_id}")
    _write_new(df.sparkSession, f"{staging}.json", json.dumps(
        {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}))
    df.write.mode("overwrite").partitionBy(PARTITION_COLUMN).parquet(staging)
    return staging


def commit_staged(spark: SparkSession, staging: str, table: str, dates: list[dt.date]) -> None:
    """Make `dates` of `table` exactly what `staging` holds for them (see `commit_tables`)."""
    commit_tables(spark, {table: staging}, dates)


def commit_tables(spark: SparkSession, stagings: dict[str, str | None], dates: list[dt.date]) -> None:
    """Make `dates` of each table exactly what its staging holds for them: each staged partition replaces the old
    one by directory renames, a date absent from staging (or every date, for a table staged as None) loses its old
    partition, and the staging folders go.

    Dead runs' leftovers are recovered first. Every table's plan (`<staging>.commit.json`) is written before the
    first rename of any of them, so a commit cut by a crash, half-way through a table or between two tables, is
    rolled forward table by table by the next commit to each."""
    plans = {}
    for table, staging in stagings.items():
        recover(spark, table, dates)
        if staging:
            staged = list_partitions(spark, staging)
            plans[table] = {"replace": [str(d) for d in dates if d in staged],
                            "remove": [str(d) for d in dates if d not in staged], "at": time.time()}
    for table, plan in plans.items():
        _write_new(spark, f"{stagings[table]}.commit.json", json.dumps(plan))
    for table, staging in stagings.items():
        pause_point(f"commit {_leaf(table)}")
        if staging:
            _apply(spark, table, staging, plans[table])
            remove_folders(spark, [staging])
        else:
            remove_partitions(spark, table, dates)


def _apply(spark: SparkSession, table: str, staging: str, plan: dict) -> None:
    """Carry out a commit plan; idempotent, so that it can be re-applied after a crash at any step."""
    fs, _ = _fs(spark, table)
    path = spark._jvm.org.apache.hadoop.fs.Path
    fs.mkdirs(path(table))
    for date in plan["replace"]:
        source = path(table_path(staging, f"{PARTITION_PREFIX}{date}"))
        target = path(table_path(table, f"{PARTITION_PREFIX}{date}"))
        if not fs.exists(source):
            continue  # moved in before the crash
        if fs.exists(target):
            aside = path(table_path(staging, f"_replaced_{PARTITION_PREFIX}{date}"))
            fs.delete(aside, True)
            _rename(fs, target, aside)
            pause_point(f"aside {_leaf(table)} {date}")
        _rename(fs, source, target)
        pause_point(f"moved {_leaf(table)} {date}")
    for date in plan["remove"]:
        fs.delete(path(table_path(table, f"{PARTITION_PREFIX}{date}")), True)


def recover(spark: SparkSession, table: str, dates: list[dt.date] = ()) -> list[str]:
    """Finish what dead runs left in `<table>/_staging/`: roll a begun commit forward, drop a staging never
    committed. A live run's commit of one of `dates` is waited for, so that commits of a date apply in order.
    A run is dead when its driver's process is gone (same host) or, seen from another host, when its commit has
    lasted COMMIT_TIMEOUT_SECONDS or its staging STAGING_TIMEOUT_SECONDS. Returns the recovered run ids."""
    fs, root = _fs(spark, table_path(table, STAGING))
    if not fs.exists(root):
        return []
    leases = [s.getPath().getName()[:-len(".json")] for s in fs.listStatus(root)
              if s.getPath().getName().endswith(".json") and "." not in s.getPath().getName()[:-len(".json")]]
    wanted, recovered = {str(d) for d in dates}, []
    for run in leases:
        staging = table_path(table, f"{STAGING}/{run}")
        waited = time.time()
        while True:
            lease, plan = (json.loads(t) if t else None for t in
                           (read_text(spark, f"{staging}.json"), read_text(spark, f"{staging}.commit.json")))
            if lease is None or _is_dead(lease, plan):
                break
            if not (plan and wanted & {*plan["replace"], *plan["remove"]}):
                break
            if time.time() - waited > COMMIT_TIMEOUT_SECONDS:
                raise TimeoutError(f"{table}: run {run} has been committing the same dates for "
                                   f"{COMMIT_TIMEOUT_SECONDS} s; check its driver ({lease})")
            time.sleep(1)  # a live commit of the same dates: renames only, so seconds
        if lease is None or not _is_dead(lease, plan) or not _claim(spark, staging):
            continue
        if plan:
            _apply(spark, table, staging, plan)
        remove_folders(spark, [staging])
        recovered.append(run)
        log.warning("%s: recovered run %s (%s)", table, run, "commit rolled forward" if plan else "staging dropped")
    return recovered


def _is_dead(lease: dict, plan: dict | None) -> bool:
    if lease["host"] == socket.gethostname():
        try:
            os.kill(lease["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _is_zombie(lease["pid"])
    if plan:
        return time.time() - plan["at"] > COMMIT_TIMEOUT_SECONDS
    return time.time() - lease["started"] > STAGING_TIMEOUT_SECONDS


def _is_zombie(pid: int) -> bool:
    """A killed driver whose parent died with it stays a zombie until it is reaped, yet answers `kill(pid, 0)`."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # no /proc (not Linux), or the process has just gone
        return False


def _claim(spark: SparkSession, staging: str) -> bool:
    """Take a dead run's leftovers by creating `<staging>.claim.json` (create-if-absent), so that two runs never
    recover the same run at once; a claim whose claimer died is taken over."""
    fs, claim = _fs(spark, f"{staging}.claim.json")
    mine = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    for _ in range(2):
        try:
            stream = fs.create(claim, False)
        except Exception:  # FileAlreadyExistsException: claimed by another run, alive or not
            text = read_text(spark, f"{staging}.claim.json")
            if text and not _is_dead(json.loads(text), {"at": json.loads(text)["started"]}):
                return False
            fs.delete(claim, False)
            continue
        try:
            stream.write(bytearray(json.dumps(mine).encode("utf-8")))
        finally:
            stream.close()
        return True
    return False


def _rename(fs, source, target) -> None:
    if not fs.rename(source, target):
        raise IOError(f"could not rename {source} to {target}")


def _write_new(spark: SparkSession, path: str, text: str) -> None:
    """Write a small file whole or not at all: written under a hidden name, then renamed into place."""
    parent, name = path.rsplit("/", 1)
    temp = f"{parent}/.{name}.tmp"
    write_text(spark, temp, text)
    fs, source = _fs(spark, temp)
    _rename(fs, source, spark._jvm.org.apache.hadoop.fs.Path(path))


def _leaf(table: str) -> str:
    return table.rstrip("/").rsplit("/", 1)[-1]


def pause_point(name: str) -> None:
    """Test hook of the kill tests (tests/reliability/): with FRAUD_PAUSE_AT=<name> the job says so on stderr and
    sleeps at this point until it is killed. Points: `commit <table>` (every table's plan written, earlier tables
    of the run committed, nothing of this one moved), `aside <table>
    <date>` (the date's old partition moved aside, the new one not yet in), `moved <table> <date>`."""
    if os.environ.get(PAUSE_ENV) == name:
        print(f"{PAUSE_ENV}: paused at {name}", file=sys.stderr, flush=True)
        time.sleep(3600)


def remove_folders(spark: SparkSession, folders: list[str | None]) -> None:
    """Remove each folder and all it holds, if it exists, with its lease, commit plan and claim beside it (e.g.
    the staging folders of a failed run)."""
    for folder in filter(None, folders):
        for path in (folder, f"{folder}.commit.json", f"{folder}.claim.json", f"{folder}.json"):
            fs, target = _fs(spark, path)
            if fs.exists(target):
                fs.delete(target, True)


def iceberg_table(config, name: str) -> str:
    """The identifier of output table `name` in the config's Iceberg catalog (`catalog.name`.`namespace`.name)."""
    return f"{config.catalog.name}.{config.catalog.namespace}.{name}"


def overwrite_dates(df: DataFrame, table: str, dates: list[dt.date]) -> None:
    """Make `dates` of Iceberg table `table` exactly `df`'s rows for them in one atomic commit (a date with no row
    in `df` is removed, other dates are untouched); the table and its namespace are created, partitioned by date,
    on first use. Readers see the old snapshot or the new one, never a mix, and the old one stays queryable."""
    spark = df.sparkSession
    if not spark.catalog.tableExists(table):
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {table.rsplit('.', 1)[0]}")
        (df.limit(0).writeTo(table).using("iceberg").partitionedBy(F.col(PARTITION_COLUMN))
         .tableProperty("format-version", "2").create())
    df.writeTo(table).overwrite(F.col(PARTITION_COLUMN).isin(list(dates)))


def replace_table(df: DataFrame, table: str) -> None:
    """Write `df` partitioned by date as the whole of `table`: dates absent from `df` do not survive."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "static").partitionBy(PARTITION_COLUMN).parquet(table)
