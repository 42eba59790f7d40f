"""Reading and writing the date-partitioned Parquet tables (`<table>/tx_date=YYYY-MM-DD/part-*.parquet`) on
any Hadoop file system Spark knows (local paths, `s3://` through EMRFS, `s3a://`).

Reads list only the partitions a job needs and check every file's own schema (its Parquet footer) against the
table's contract before a row is read; the feature job's writes are staged and then committed date by date.
"""
from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, types as T

from expectations.contracts import PARTITION_COLUMN, ContractError, TableContract
from expectations.quarantine import conform, require_schema

PARTITION_PREFIX = f"{PARTITION_COLUMN}="
FOOTER_THREADS = 16


@dataclass(frozen=True)
class Partition:
    date: dt.date
    path: str
    files: tuple[str, ...]


def _fs(spark: SparkSession, path: str):
    jvm_path = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jvm_path.getFileSystem(spark._jsc.hadoopConfiguration()), jvm_path


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
            return T.StructType.fromJson(json.loads(converter.convert(footer.getFileMetaData().getSchema()).json()))
        except Exception as exc:  # a damaged file, or a type Spark cannot read (e.g. nanosecond timestamps)
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ContractError(table_name, file, None, "readable_parquet", detail[:300]) from None

    with ThreadPoolExecutor(max_workers=FOOTER_THREADS) as pool:
        return dict(zip(files, pool.map(read, files)))


def read_partitions(spark: SparkSession, table: str, partitions: list[Partition], contract: TableContract,
                    allow_extra_columns: bool, keep_extra: bool = False) -> DataFrame:
    """Rows of `partitions` conformed to `contract`, with `source_file`. Every file's own schema is checked
    first, so a file that breaks the contract stops the read with a `ContractError` naming it; files written
    with different but lossless types are read group by group and cast to the contract's types. With
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
    known = {*contract.columns, PARTITION_COLUMN}
    parts = []
    for schema, group in groups.items():
        read_schema = T.StructType.fromJson(json.loads(schema))
        extra = tuple(n for n in read_schema.fieldNames() if n not in known) if keep_extra else ()
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
    """Write `df` by date under `<table>/_staging/<run_id>/` (invisible to readers of the table: Spark and
    Athena skip `_` folders); `commit_staged` moves it into place."""
    staging = table_path(table, f"_staging/{run_id}")
    df.write.mode("overwrite").partitionBy(PARTITION_COLUMN).parquet(staging)
    return staging


def commit_staged(spark: SparkSession, staging: str, table: str, dates: list[dt.date]) -> None:
    """Make `dates` of `table` exactly what `staging` holds for them: each staged partition replaces the old one
    by directory renames, a date absent from staging loses its old partition, and the staging folder goes."""
    fs, _ = _fs(spark, table)
    path = spark._jvm.org.apache.hadoop.fs.Path
    staged = list_partitions(spark, staging)
    fs.mkdirs(path(table))
    for date in dates:
        target = path(partition_path(table, date))
        if fs.exists(target):
            fs.rename(target, path(table_path(staging, f"_replaced_{PARTITION_PREFIX}{date}")))
        if date in staged:
            fs.rename(path(staged[date].path), target)
    fs.delete(path(staging), True)


def remove_folders(spark: SparkSession, folders: list[str | None]) -> None:
    """Remove each folder and all it holds, if it exists (e.g. the staging folders of a failed run)."""
    for folder in filter(None, folders):
        fs, path = _fs(spark, folder)
        if fs.exists(path):
            fs.delete(path, True)


def replace_table(df: DataFrame, table: str) -> None:
    """Write `df` partitioned by date as the whole of `table`: dates absent from `df` do not survive."""
    df.write.mode("overwrite").option("partitionOverwriteMode", "static").partitionBy(PARTITION_COLUMN).parquet(table)
