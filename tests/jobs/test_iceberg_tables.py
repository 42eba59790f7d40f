"""The Iceberg building block of the output tables (`jobs.tables.overwrite_dates`) in the embedded JDBC catalog
(SQLite), with the warehouse on local disk and on the local S3 endpoint: a re-run of dates replaces exactly them in
one commit, and the previous snapshot stays queryable. The jobs still write plain Parquet folders."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from jobs.common import build_session
from jobs.tables import iceberg_table, overwrite_dates
from tests.conftest import config_for_tests, s3_client, s3_keys

D1, D2, D3 = (dt.date(2018, 4, 1) + dt.timedelta(days=i) for i in range(3))
SCHEMA = T.StructType([T.StructField("transaction_id", T.LongType()), T.StructField("tx_amount", T.DoubleType()),
                       T.StructField("tx_date", T.DateType())])
BUCKET = "fraud-iceberg-test"


@pytest.mark.parametrize("store", ["local", "s3"])
def test_overwriting_dates_replaces_exactly_them_in_one_commit_and_keeps_the_old_snapshot(spark, aws_endpoint,
                                                                                         tmp_path, store):
    if store == "s3":
        s3_client(aws_endpoint).create_bucket(Bucket=BUCKET)
    warehouse = str(tmp_path / "warehouse") if store == "local" else f"s3a://{BUCKET}/warehouse"
    config = config_for_tests("catalog.kind=jdbc", f"catalog.name=ice_{store}",
                              f"catalog.uri=jdbc:sqlite:{tmp_path}/catalog/catalog.db",
                              f"catalog.warehouse={warehouse}", f"aws.endpoint_url={aws_endpoint}")
    session = build_session(config)
    table = iceberg_table(config, "scored")
    first = session.createDataFrame([(1, 10.0, D1), (2, 20.0, D1), (3, 30.0, D2), (4, None, D2), (5, 50.0, D3)],
                                    SCHEMA)
    overwrite_dates(first, table, [D1, D2, D3])
    rerun = session.createDataFrame([(6, 60.0, D2)], SCHEMA)  # D2 re-scored to one row, D3 now empty
    overwrite_dates(rerun, table, [D2, D3])

    expected = session.createDataFrame([(1, 10.0, D1), (2, 20.0, D1), (6, 60.0, D2)], SCHEMA)
    assert_df_equality(session.table(table), expected, ignore_row_order=True, ignore_nullable=True)
    snapshots = session.sql(f"SELECT snapshot_id, summary FROM {table}.snapshots ORDER BY committed_at").collect()
    last = snapshots[-1].summary
    assert (last["added-records"], last["deleted-records"]) == ("1", "3")  # one commit: D2 replaced, D3 removed
    previous = session.sql(f"SELECT * FROM {table} VERSION AS OF {snapshots[-2].snapshot_id}")
    assert_df_equality(previous, first, ignore_row_order=True, ignore_nullable=True)
    if store == "s3":
        data = [k for k in s3_keys(aws_endpoint, BUCKET, "warehouse/fraud/scored/data/") if k.endswith(".parquet")]
        assert {k.split("/")[4] for k in data} == {f"tx_date={d}" for d in (D1, D2, D3)}  # old files kept for audit
