"""Reading and writing the date-partitioned Parquet tables (`<table>/tx_date=YYYY-MM-DD/part-*.parquet`) on
any Hadoop file system Spark knows (local paths, `s3://` through EMRFS, `s3a://`).

Reads list only the partitions a job needs and check every file's schema against the table's contract before a
row is read; writes replace exactly the partitions present in the data (dynamic partition overwrite).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from expectations.contracts import PARTITION_COLUMN, ContractError, TableContract
from expectations.quarantine import conform, require_schema

PARTITION_PREFIX = f"{PARTITION_COLUMN}="


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


def read_partitions(spark: SparkSession, table: str, partitions: list[Partition], contract: TableContract,
                    allow_extra_columns: bool) -> DataFrame:
    """Rows of `partitions` conformed to `contract`, with `source_file`; a file whose schema breaks the contract
    stops the read with a `ContractError` naming it."""
    paths = [p.path for p in partitions if p.files]
    if not paths:
        raise ContractError(contract.name, table, None, "not_empty", "the selected partitions hold no data files")
    reader = spark.read.option("basePath", table).option("mergeSchema", "true")
    try:
        df = reader.parquet(*paths)
    except Exception as exc:  # schemas that cannot be merged: find the file that differs from the first
        _raise_for_file_schemas(spark, partitions, contract, allow_extra_columns, exc)
        raise
    try:
        require_schema(df.schema, contract, table, allow_extra_columns)
    except ContractError:  # the merged schema breaks the contract: name the file that does
        _raise_for_file_schemas(spark, partitions, contract, allow_extra_columns, None)
        raise
    return conform(df, contract)


def _raise_for_file_schemas(spark: SparkSession, partitions: list[Partition], contract: TableContract,
                            allow_extra_columns: bool, cause: Exception | None) -> None:
    """Name the first data file whose own schema breaks the contract (the slow path, on failure only)."""
    for partition in partitions:
        for file in partition.files:
            try:
                schema = spark.read.parquet(file).schema
            except Exception as exc:  # AnalysisException or the JVM's own error on a damaged file
                raise ContractError(contract.name, file, None, "readable_parquet", str(exc).splitlines()[0]) from exc
            require_schema(schema.add(PARTITION_COLUMN, "date") if PARTITION_COLUMN not in schema.names else schema,
                           contract, file, allow_extra_columns)
    if cause is not None:
        raise ContractError(contract.name, partitions[0].path, None, "mergeable_schema",
                            str(cause).splitlines()[0]) from cause


def table_path(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def remove_partitions(spark: SparkSession, table: str, dates: list[dt.date]) -> None:
    fs, _ = _fs(spark, table)
    for date in dates:
        path = spark._jvm.org.apache.hadoop.fs.Path(f"{table.rstrip('/')}/{PARTITION_PREFIX}{date}")
        if fs.exists(path):
            fs.delete(path, True)


def write_partitioned(df: DataFrame, table: str, replace_whole_table: bool = False) -> None:
    """Write `df` partitioned by date; only the dates present in `df` are replaced unless told otherwise."""
    (
        df.write.mode("overwrite")
        .option("partitionOverwriteMode", "static" if replace_whole_table else "dynamic")
        .partitionBy(PARTITION_COLUMN)
        .parquet(table)
    )
