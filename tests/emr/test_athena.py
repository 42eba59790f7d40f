"""Athena DDL and the saved queries: every query runs through DuckDB on the real jobs' output."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from conf import PathsConf
from emr.athena import (DEFAULT_PROJECTION_START, TABLES, create_table_ddl, create_view_duckdb, identifier,
                        projection_start)
from emr.queries import QUERIES, QueryError, athena_parameters, bind, run_local
from jobs import monitor
from tests.conftest import SCORED_DAYS, tracked_config

S3 = PathsConf(raw="s3://bucket/raw", features="s3://bucket/features", publish="s3://bucket/publish")


OUTPUT_FOLDERS = {"transaction_features": "features/", "scored_transactions": "publish/scored/",
                  "fraud_alerts": "publish/alerts/", "model_monitoring": "publish/monitoring/"}


@pytest.mark.parametrize("name", sorted(OUTPUT_FOLDERS))
def test_each_output_table_is_an_iceberg_table_without_projection(name):
    ddl = create_table_ddl(TABLES[name], "fraud", S3)
    assert ddl.startswith(f"CREATE TABLE `fraud`.`{name}` (")  # Athena refuses EXTERNAL for an Iceberg table
    assert "'table_type'='ICEBERG'" in ddl and "PARTITIONED BY (`tx_date`)\n" in ddl and "  `tx_date` date\n)" in ddl
    assert f"LOCATION 's3://bucket/{OUTPUT_FOLDERS[name]}'" in ddl
    assert "projection" not in ddl and "storage.location.template" not in ddl and "STORED AS" not in ddl


def test_the_raw_table_is_an_external_parquet_table_with_date_projection():
    ddl = create_table_ddl(TABLES["raw_transactions"], "fraud", S3)
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `fraud`.`raw_transactions` (")
    assert "PARTITIONED BY (`tx_date` date)" in ddl and "STORED AS PARQUET" in ddl
    assert "LOCATION 's3://bucket/raw/transactions/'" in ddl
    assert "'storage.location.template'='s3://bucket/raw/transactions/tx_date=${tx_date}/'" in ddl
    assert "`tx_amount` double" in ddl and "table_type" not in ddl


def test_the_projection_starts_at_the_given_date_and_runs_to_today():
    ddl = create_table_ddl(TABLES["raw_transactions"], "fraud", S3, dt.date(2013, 9, 1))
    assert "'projection.tx_date.range'='2013-09-01,NOW'" in ddl


@pytest.mark.parametrize("configured, earliest, start", [
    (dt.date(2013, 9, 1), dt.date(2018, 4, 1), dt.date(2013, 9, 1)),  # the config wins
    (None, dt.date(2013, 9, 1), dt.date(2013, 9, 1)),  # else the table's earliest date
    (None, None, DEFAULT_PROJECTION_START),  # else the default
])
def test_the_projection_start_comes_from_the_config_else_the_data(configured, earliest, start):
    assert projection_start(configured, earliest) == start


@pytest.mark.parametrize("bad", ["Fraud", "fraud; drop table x", "", "1abc", "a-b"])
def test_names_are_validated_not_spliced(bad):
    with pytest.raises(ValueError, match="not a valid table or database name"):
        identifier(bad)
    with pytest.raises(ValueError):
        create_table_ddl(TABLES["fraud_alerts"], bad, S3)


def test_a_location_must_be_a_plain_s3_prefix():
    with pytest.raises(ValueError, match="not an s3:// location"):
        create_table_ddl(TABLES["fraud_alerts"], "fraud", PathsConf(publish="s3://bucket/x' OR 1=1"))
    with pytest.raises(ValueError, match="not an s3:// location"):
        create_table_ddl(TABLES["fraud_alerts"], "fraud", PathsConf(publish="data/publish"))


def test_parameters_are_bound_from_validated_values():
    query = QUERIES["card_transactions"]
    assert query.sql.count("?") == len(query.parameters)
    assert bind(query, {"card": "42", "from": "2018-05-01", "to": "2018-05-02"}) == [42, "2018-05-01", "2018-05-02"]
    assert athena_parameters(query, {"card": 42, "from": "2018-05-01", "to": "2018-05-02"}) == [
        "42", "'2018-05-01'", "'2018-05-02'"]
    with pytest.raises(QueryError, match="--from '2018-05-01; drop' is not a date"):
        bind(query, {"card": 1, "from": "2018-05-01; drop", "to": "2018-05-02"})
    with pytest.raises(QueryError, match="needs --card"):
        bind(query, {"from": "2018-05-01", "to": "2018-05-02"})


def test_every_saved_query_uses_only_placeholders_for_values():
    for query in QUERIES.values():
        assert query.sql.count("?") == len(query.parameters)
        assert not re.search(r"'\d{4}-\d{2}-\d{2}'", query.sql)


@pytest.fixture(scope="module")
def local_paths(spark, small_raw, small_features, scored_publish, mlflow_store) -> PathsConf:
    last = SCORED_DAYS[-1]
    monitor.run(spark, tracked_config(mlflow_store), str(scored_publish[0]), last, as_of=last + dt.timedelta(days=7))
    return PathsConf(raw=small_raw, features=small_features[0], publish=str(scored_publish[0]))


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_saved_query_returns_rows_on_the_pipeline_output(name, local_paths, spark):
    card = spark.read.parquet(f"{local_paths.publish}/alerts").first().customer_id
    columns, rows = run_local(name, {"from": "2018-05-19", "to": "2018-05-20", "card": card}, local_paths)
    assert rows and len(columns) == len(rows[0])


def test_daily_volume_counts_every_scored_transaction(local_paths, scored_publish, spark):
    _, rows = run_local("daily_volume", {"from": "2018-05-19", "to": "2018-05-20"}, local_paths)
    assert sum(r[1] for r in rows) == spark.read.parquet(f"{local_paths.publish}/scored").count()


def test_the_local_view_reads_a_column_no_file_holds_as_null_as_athena_does(tmp_path):
    """Days scored with anomaly.enabled=false have no signal columns: Athena reads them as null, so must DuckDB."""
    day = tmp_path / "publish" / "alerts" / "tx_date=2018-05-01"
    day.mkdir(parents=True)
    duckdb.sql("SELECT 1 AS alert_rank, 7::BIGINT AS customer_id").write_parquet(str(day / "part-0.parquet"))
    paths = PathsConf(publish=str(tmp_path / "publish"))
    connection = duckdb.connect()
    connection.execute(create_view_duckdb(TABLES["fraud_alerts"], paths))
    assert connection.execute("SELECT alert_rank, customer_id, max_probability, transaction_ids, tx_date "
                              "FROM fraud_alerts").fetchall() == [(1, 7, None, None, dt.date(2018, 5, 1))]


def test_the_scored_table_lists_every_column_the_scoring_job_writes(scored_publish):
    """Analysts can query every model input, signal and reason of the default model: no scored column is left out."""
    file = next(Path(scored_publish[0], "scored").glob("tx_date=*/*.parquet"))
    written = pq.ParquetFile(file).schema_arrow.names
    assert [name for name, _ in TABLES["scored_transactions"].columns] == written
