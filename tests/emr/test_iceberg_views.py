"""The local DuckDB views over tables written by the jobs' table code (`jobs.tables`): an Iceberg table through
pyiceberg over the embedded JDBC catalog that Spark wrote (exactly the current snapshot's files), and Parquet
folders without a catalog."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import types as T

from conf import CatalogConf, PathsConf
from emr.iceberg import IcebergReadError, snapshot_files
from emr.queries import QUERIES, QueryError, bind, local_connection, run_local
from jobs import tables
from tests.conftest import config_for_tests

MAY_1, MAY_2 = dt.date(2018, 5, 1), dt.date(2018, 5, 2)
ALERTS = T.StructType([T.StructField("alert_rank", T.IntegerType()), T.StructField("customer_id", T.LongType()),
                       T.StructField("tx_date", T.DateType())])
SCORED = T.StructType([T.StructField("transaction_id", T.LongType()), T.StructField("customer_id", T.LongType()),
                       T.StructField("tx_amount", T.DoubleType()), T.StructField("outcome", T.StringType()),
                       T.StructField("tx_date", T.DateType())])


def iceberg_config(tmp_path: Path):
    return config_for_tests("catalog.kind=jdbc", f"catalog.name=views_{tmp_path.name.lower()[-20:]}",
                            f"catalog.uri=jdbc:sqlite:{tmp_path}/catalog.db", f"catalog.warehouse={tmp_path}/wh",
                            f"paths.publish={tmp_path}/publish", f"paths.raw={tmp_path}/raw",
                            f"paths.features={tmp_path}/features")


def write(spark, config, folder: str, name: str, rows, schema, dates, run_id: str):
    tables.use_catalog(spark, config)
    table = tables.output_table(config, f"{config.paths.publish}/{folder}", name)
    # one task, so one file, a date: as the jobs hand their rows over
    tables.write_dates(spark.createDataFrame(rows, schema).coalesce(1), table, dates, run_id, "test")
    return table


def alerts_view(config, as_of=None) -> list[tuple]:
    connection = local_connection(config.paths, config.catalog, as_of)
    return connection.execute("SELECT alert_rank, customer_id, max_probability, tx_date FROM fraud_alerts "
                              "ORDER BY tx_date, alert_rank").fetchall()


@pytest.fixture
def replaced_alerts(spark, tmp_path):
    """An Iceberg alerts table with two dates, the second then replaced by one new row."""
    config = iceberg_config(tmp_path)
    table = write(spark, config, "alerts", tables.ALERTS, [(1, 7, MAY_1), (1, 8, MAY_2), (2, 9, MAY_2)], ALERTS,
                  [MAY_1, MAY_2], "first")
    write(spark, config, "alerts", tables.ALERTS, [(1, 10, MAY_2)], ALERTS, [MAY_2], "second")
    return config, table


def test_the_view_of_a_rewritten_iceberg_table_reads_only_the_current_files(replaced_alerts):
    config, table = replaced_alerts
    assert alerts_view(config) == [(1, 7, None, MAY_1), (1, 10, None, MAY_2)]
    # the replaced file is still in the folder (time travel): a glob would have read it
    assert len(list(Path(table.location, "data", "tx_date=2018-05-02").glob("*.parquet"))) == 2


def test_the_view_reads_an_earlier_snapshot_as_of_its_commit_time(replaced_alerts, spark):
    config, table = replaced_alerts
    first = spark.sql(f"SELECT committed_at FROM {table.identifier}.snapshots WHERE snapshot_id = "
                      f"{tables.snapshot_of_run(spark, table, 'first')}").first()[0]  # the session is in UTC
    assert alerts_view(config, as_of=first) == [(1, 7, None, MAY_1), (1, 8, None, MAY_2), (2, 9, None, MAY_2)]
    created = spark.sql(f"SELECT min(committed_at) FROM {table.identifier}.snapshots").first()[0]
    assert snapshot_files(config.catalog, tables.ALERTS, table.location, created) == []  # created empty


def test_a_saved_query_on_an_iceberg_table_gives_sparks_answer(spark, tmp_path):
    config = iceberg_config(tmp_path)
    rows = [(1, 7, 10.5, "investigate", MAY_1), (2, 7, 20.25, "review", MAY_1), (3, 8, 5.0, "pass", MAY_1),
            (4, 9, 1.0, "investigate", MAY_2), (5, 9, 2.0, "pass", MAY_2)]
    table = write(spark, config, "scored", tables.SCORED, rows, SCORED, [MAY_1, MAY_2], "first")
    write(spark, config, "scored", tables.SCORED, rows[3:4], SCORED, [MAY_2], "second")  # a re-scored day
    values = {"from": "2018-05-01", "to": "2018-05-02"}
    _, local = run_local("daily_volume", values, config.paths, config.catalog)
    spark.table(table.identifier).createOrReplaceTempView("scored_transactions")
    query = QUERIES["daily_volume"]
    expected = [tuple(r) for r in spark.sql(query.sql, args=bind(query, values)).collect()]
    assert local == expected and local[1][1] == 1


def test_a_table_of_parquet_folders_is_read_from_its_folders(spark, tmp_path):
    config = config_for_tests(f"paths.publish={tmp_path}/publish", f"paths.raw={tmp_path}/raw",
                              f"paths.features={tmp_path}/features")
    write(spark, config, "alerts", tables.ALERTS, [(1, 7, MAY_1), (2, 8, MAY_2)], ALERTS, [MAY_1, MAY_2], "first")
    write(spark, config, "alerts", tables.ALERTS, [(3, 9, MAY_2)], ALERTS, [MAY_2], "second")
    assert alerts_view(config) == [(1, 7, None, MAY_1), (3, 9, None, MAY_2)]


def test_an_iceberg_folder_is_not_globbed_without_its_catalog(replaced_alerts):
    config, _ = replaced_alerts
    with pytest.raises(QueryError, match="fraud_alerts: .* is an Iceberg table and no catalog was given"):
        local_connection(config.paths, CatalogConf())


def test_a_table_with_delete_files_is_refused(spark, tmp_path):
    """A merge-on-read delete (which the jobs never write) leaves rows the data files alone would still show."""
    config = iceberg_config(tmp_path)
    table = write(spark, config, "alerts", tables.ALERTS, [(1, 7, MAY_1), (2, 8, MAY_1)], ALERTS, [MAY_1], "first")
    spark.sql(f"ALTER TABLE {table.identifier} SET TBLPROPERTIES ('write.delete.mode'='merge-on-read')")
    spark.sql(f"DELETE FROM {table.identifier} WHERE customer_id = 7")
    with pytest.raises(QueryError, match="fraud_alerts: data file .* has 1 delete file"):
        local_connection(config.paths, config.catalog)


def test_tables_on_s3_and_the_glue_catalog_are_refused_locally(tmp_path):
    s3 = PathsConf(raw="s3a://bucket/raw", features="s3a://bucket/features", publish="s3a://bucket/publish")
    with pytest.raises(QueryError, match="raw_transactions: s3a://bucket/raw/transactions is on S3"):
        local_connection(s3)
    with pytest.raises(QueryError, match="the Glue catalog's Iceberg tables are on S3 and read by Athena"):
        local_connection(PathsConf(), dataclasses.replace(CatalogConf(), kind="glue"))
    with pytest.raises(IcebergReadError, match="fraud_alerts: s3a://bucket/publish/alerts is on S3"):
        snapshot_files(CatalogConf(kind="jdbc", uri=f"jdbc:sqlite:{tmp_path}/c.db"), "fraud_alerts",
                       "s3a://bucket/publish/alerts")
