"""Date-partitioned Parquet folders (`<table>/tx_date=YYYY-MM-DD/part-*.parquet`) on any Hadoop file system Spark
knows (local paths, `s3://` through EMRFS, `s3a://`): the raw input upstream systems drop, and the output tables
of a run without an Iceberg catalog (`jobs.tables`). Small text files beside the tables (reports, manifests).

Reads list only the partitions a job needs and check every file's own schema (its Parquet footer) against the
table's contract before a row is read.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, types as T

from conf.storage import bucket_root, explain
from expectations.contracts import PARTITION_COLUMN, ContractError, TableContract
from expectations.quarantine import NANOSECOND_TIMESTAMP, conform, require_schema

PARTITION_PREFIX = f"{PARTITION_COLUMN}="
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FOOTER_THREADS = 16
# pandas writes datetime64[ns] as nanosecond timestamps, which Spark 3.5 reads only as their bigint count (this
# legacy setting, set on the session when a footer holds one); the column is marked and read as a timestamp
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
NANOS_HINT = " (nanosecond timestamps: write microseconds, e.g. pandas to_parquet(..., coerce_timestamps='us'))"


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


def copy_from_local(spark: SparkSession, folder: str, target: str, names: list[str]) -> None:
    """Copy the files `names` (paths relative to local `folder`) to the same paths below `target`, on any Hadoop
    file system, S3 included."""
    fs, _ = _fs(spark, target)
    hadoop_path = spark._jvm.org.apache.hadoop.fs.Path
    for name in names:
        source = hadoop_path(Path(folder, name).resolve().as_uri())
        fs.copyFromLocalFile(False, True, source, hadoop_path(table_path(target, Path(name).as_posix())))


def has_data(spark: SparkSession, table: str) -> bool:
    """True when folder `table` exists and holds anything but hidden (`_`, `.`) entries."""
    fs, root = _fs(spark, table)
    return bool(fs.exists(root)) and any(not status.getPath().getName().startswith(("_", "."))
                                         for status in fs.listStatus(root))


def partition_folder(table: str, date: object) -> str:
    """The folder of one date of `table`. Only a real `datetime.date` becomes a path: a date read from a plan or
    manifest file as text (`"2018-04-01/../.."`, `"*"`) is re-parsed by its reader first (`plan_date`)."""
    if type(date) is not dt.date:  # a datetime is a date too, and would print its time into the path
        raise ContractError("table", table, PARTITION_COLUMN, "partition_date",
                            f"{date!r} is not a date: only parsed dates become partition paths")
    return table_path(table, f"{PARTITION_PREFIX}{date.isoformat()}")


def plan_date(value: object, source: str, field: str) -> dt.date:
    """A date read from a plan, manifest or other file, strictly YYYY-MM-DD, before it can become a path; a
    `ContractError` naming the file and the field otherwise."""
    if isinstance(value, str) and ISO_DATE.fullmatch(value):  # fromisoformat alone also takes 2018-W14-1
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ContractError("plan", source, field, "iso_date", f"{value!r} is not a date YYYY-MM-DD")


def remove_partitions(spark: SparkSession, table: str, dates: list[dt.date]) -> None:
    """Delete the folders of `dates` in Parquet table `table`, where they exist; every date is checked before
    anything is deleted."""
    folders = [partition_folder(table, date) for date in dates]
    fs, _ = _fs(spark, table)
    for folder in folders:
        path = spark._jvm.org.apache.hadoop.fs.Path(folder)
        if fs.exists(path):
            fs.delete(path, True)


def remove_folders(spark: SparkSession, folders: list[str | None]) -> None:
    """Remove each folder and all it holds, if it exists (e.g. a job's scratch folders)."""
    for folder in filter(None, folders):
        fs, target = _fs(spark, folder)
        if fs.exists(target):
            fs.delete(target, True)


def replace_table(df: DataFrame, table: str) -> None:
    """Write `df` partitioned by date as the whole of Parquet table `table`: dates absent from `df` do not survive
    (the simulator's raw table, written the way upstream systems drop files)."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "static").partitionBy(PARTITION_COLUMN).parquet(table)
