"""The output tables as Iceberg tables (`jobs.tables`) in the embedded JDBC catalog (SQLite), on local disk and on
the local S3 endpoint: a re-run of dates replaces exactly them in one commit per table, other dates keep their
files, a date whose new output is empty goes, the previous snapshot stays queryable, and the feature job writes the
same rows as into Parquet folders."""
from __future__ import annotations

import datetime as dt
import glob
import shutil

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F, types as T

from conf import ConfigError
from jobs import build_features
from jobs.common import build_session
from jobs.tables import FEATURES, QUARANTINE_SUFFIX, output_table, partitions, read_all, use_catalog, write_dates
from tests.conftest import config_for_tests, iceberg_settings, s3_client, s3_keys, table_rows
from tests.jobs.test_build_features import break_rows, copy_with

D1, D2, D3 = (dt.date(2018, 4, 1) + dt.timedelta(days=i) for i in range(3))
SCHEMA = T.StructType([T.StructField("transaction_id", T.LongType()), T.StructField("tx_amount", T.DoubleType()),
                       T.StructField("tx_date", T.DateType())])
BUCKET = "fraud-iceberg-test"
FAST = ("validation.enabled=false",)


def snapshots(spark, table) -> list:
    return spark.sql(f"SELECT snapshot_id, summary FROM {table.identifier}.snapshots ORDER BY committed_at").collect()


@pytest.mark.parametrize("store", ["local", "s3"])
def test_writing_dates_replaces_exactly_them_in_one_commit_and_keeps_the_old_snapshot(spark, aws_endpoint,
                                                                                     tmp_path, store):
    if store == "s3":
        s3_client(aws_endpoint).create_bucket(Bucket=BUCKET)
    root = str(tmp_path) if store == "local" else f"s3a://{BUCKET}"
    config = config_for_tests(*iceberg_settings(tmp_path), f"aws.endpoint_url={aws_endpoint}")
    session = build_session(config, uris=[root])
    table = output_table(config, f"{root}/publish/scored", "scored_transactions")
    first = session.createDataFrame([(1, 10.0, D1), (2, 20.0, D1), (3, 30.0, D2), (4, None, D2), (5, 50.0, D3)],
                                    SCHEMA)
    write_dates(first, table, [D1, D2, D3], "run1", "test")
    d1_files = partitions(session, table)[D1].files
    rerun = session.createDataFrame([(6, 60.0, D2)], SCHEMA)  # D2 re-scored to one row, D3 now empty
    snapshot = write_dates(rerun, table, [D2, D3], "run2", "test")

    expected = session.createDataFrame([(1, 10.0, D1), (2, 20.0, D1), (6, 60.0, D2)], SCHEMA)
    assert_df_equality(read_all(session, table), expected, ignore_row_order=True, ignore_nullable=True)
    history = snapshots(session, table)
    last = history[-1].summary
    assert history[-1].snapshot_id == snapshot and last["run-id"] == "run2" and last["fraud-job"] == "test"
    assert (last["added-records"], last["deleted-records"]) == ("1", "3")  # one commit: D2 replaced, D3 removed
    assert sorted(partitions(session, table)) == [D1, D2] and partitions(session, table)[D1].files == d1_files
    previous = session.sql(f"SELECT * FROM {table.identifier} VERSION AS OF {history[-2].snapshot_id}")
    assert_df_equality(previous, first, ignore_row_order=True, ignore_nullable=True)
    if store == "s3":
        data = [k for k in s3_keys(aws_endpoint, BUCKET, "publish/scored/data/") if k.endswith(".parquet")]
        assert {k.split("/")[3] for k in data} == {f"tx_date={d}" for d in (D1, D2, D3)}  # old files kept


def test_the_feature_job_writes_the_same_rows_to_iceberg_and_a_rerun_replaces_only_its_dates(spark, small_raw,
                                                                                             tmp_path):
    table, file = copy_with(small_raw, tmp_path, break_rows)
    config = config_for_tests(*FAST, *iceberg_settings(tmp_path))
    out = str(tmp_path / "features")
    first = build_features.run(spark, config, table, out, dt.date(2018, 5, 9), dt.date(2018, 5, 10))
    folders = str(tmp_path / "folders")
    build_features.run(spark, config_for_tests(*FAST), table, folders, dt.date(2018, 5, 9), dt.date(2018, 5, 10))
    iceberg = output_table(config, out, FEATURES)
    use_catalog(spark, config)
    both_days = F.col("tx_date").isin(dt.date(2018, 5, 9), dt.date(2018, 5, 10))
    assert_df_equality(read_all(spark, iceberg).where(both_days), spark.read.parquet(folders),
                       ignore_row_order=True, ignore_column_order=True, ignore_nullable=True)
    quarantine = table_rows(spark, config, out + QUARANTINE_SUFFIX, FEATURES + QUARANTINE_SUFFIX)
    assert quarantine.count() == first["rows_quarantined"] == 8
    before = {d: p.files for d, p in partitions(spark, iceberg).items()}

    shutil.copy(glob.glob(f"{small_raw}/transactions/tx_date=2018-05-10/*.parquet")[0], file)  # rows fixed
    again = build_features.run(spark, config, table, out, dt.date(2018, 5, 10), dt.date(2018, 5, 10))
    after = {d: p.files for d, p in partitions(spark, iceberg).items()}
    assert {d: f for d, f in after.items() if d != dt.date(2018, 5, 10)} == {
        d: f for d, f in before.items() if d != dt.date(2018, 5, 10)}  # other dates: the same files
    assert after[dt.date(2018, 5, 10)] != before[dt.date(2018, 5, 10)]
    assert table_rows(spark, config, out + QUARANTINE_SUFFIX, FEATURES + QUARANTINE_SUFFIX).count() == 0
    summaries = [s.summary for s in snapshots(spark, iceberg)]
    assert [s["run-id"] for s in summaries if "run-id" in s][-2:] == [first["run_id"], again["run_id"]]
    assert again["snapshots"]["features"] == snapshots(spark, iceberg)[-1].snapshot_id


def test_one_name_holds_one_location_and_s3_tables_need_a_catalog(spark, tmp_path):
    config = config_for_tests(*iceberg_settings(tmp_path))
    use_catalog(spark, config)
    rows = spark.createDataFrame([(1, 1.0, D1)], SCHEMA)
    write_dates(rows, output_table(config, str(tmp_path / "a" / "scored"), "scored_transactions"), [D1], "r", "t")
    with pytest.raises(ConfigError, match="is at .*/a/scored, not .*/b/scored: one name holds one location"):
        write_dates(rows, output_table(config, str(tmp_path / "b" / "scored"), "scored_transactions"), [D1], "r", "t")
    with pytest.raises(ConfigError, match="tables on S3 need an Iceberg catalog"):
        output_table(config_for_tests(), "s3a://bucket/publish/scored", "scored_transactions")
