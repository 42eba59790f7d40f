"""The raw table as other tools write it: the handbook's own transactions as pandas writes them (upper-case names,
every integer 64-bit, a timestamp without a zone), beside a partition in the contract's own types."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F, types as T

from expectations.contracts import RAW_TRANSACTIONS
from expectations.quarantine import REASON, with_quarantine_reason
from jobs import build_features
from jobs.files import list_partitions, read_partitions
from tests.conftest import config_for_tests

FIRST, SECOND = dt.date(2018, 4, 1), dt.date(2018, 4, 2)
TOO_MANY_DAYS = 2**31  # an int holds up to 2**31 - 1: Spark's cast would wrap it to -2**31
BOOK_TYPES = {"TRANSACTION_ID": pa.int64(), "TX_DATETIME": pa.timestamp("us"), "CUSTOMER_ID": pa.int64(),
              "TERMINAL_ID": pa.int64(), "TX_AMOUNT": pa.float64(), "TX_TIME_SECONDS": pa.int64(),
              "TX_TIME_DAYS": pa.int64(), "TX_FRAUD": pa.int64(), "TX_FRAUD_SCENARIO": pa.int64()}


def book_row(transaction_id: int, days: int) -> dict:
    return {"TRANSACTION_ID": transaction_id, "TX_DATETIME": dt.datetime(2018, 4, 1, 0, 0, 31 + transaction_id),
            "CUSTOMER_ID": 596, "TERMINAL_ID": 3156, "TX_AMOUNT": 57.16, "TX_TIME_SECONDS": 31 + transaction_id,
            "TX_TIME_DAYS": days, "TX_FRAUD": 0, "TX_FRAUD_SCENARIO": 0}


@pytest.fixture
def mixed_table(spark, tmp_path) -> str:
    """2018-04-01 as pandas writes the book's data (row 2's day count does not fit an int); 2018-04-02 as the
    simulator writes it."""
    table = tmp_path / "transactions"
    book = table / f"tx_date={FIRST}"
    book.mkdir(parents=True)
    rows = [book_row(1, 0), book_row(2, TOO_MANY_DAYS)]
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(list(BOOK_TYPES.items()))), book / "part-0.parquet")
    ours = [(3, dt.datetime(2018, 4, 2, 9, 0, tzinfo=dt.timezone.utc), 596, 3156, 12.5, 86400 + 32400, 1, 0, 0)]
    (spark.createDataFrame(ours, RAW_TRANSACTIONS.schema).withColumn("tx_date", F.lit(SECOND))
     .write.partitionBy("tx_date").mode("append").parquet(str(table)))
    return str(table)


def test_the_books_pandas_file_is_read_beside_ours_and_a_value_that_does_not_fit_is_quarantined(spark, mixed_table):
    partitions = list(list_partitions(spark, mixed_table).values())
    rows = read_partitions(spark, mixed_table, partitions, RAW_TRANSACTIONS, allow_extra_columns=False)
    got = with_quarantine_reason(rows, RAW_TRANSACTIONS, []).select(
        "transaction_id", "tx_datetime", "tx_time_days", "tx_date", REASON).orderBy("transaction_id")
    reason = (f"fits_type(tx_time_days): a bigint read as int must lie in [-2147483648, 2147483647], "
              f"found {TOO_MANY_DAYS}")
    utc = dt.timezone.utc
    expected = spark.createDataFrame([
        (1, dt.datetime(2018, 4, 1, 0, 0, 32, tzinfo=utc), 0, FIRST, None),
        (2, dt.datetime(2018, 4, 1, 0, 0, 33, tzinfo=utc), None, FIRST, reason),
        (3, dt.datetime(2018, 4, 2, 9, 0, tzinfo=utc), 1, SECOND, None),
    ], T.StructType([T.StructField("transaction_id", T.LongType()), T.StructField("tx_datetime", T.TimestampType()),
                     T.StructField("tx_time_days", T.IntegerType()), T.StructField("tx_date", T.DateType()),
                     T.StructField(REASON, T.StringType())]))
    assert_df_equality(got, expected, ignore_nullable=True)


def test_the_feature_job_takes_the_books_file_and_quarantines_only_the_row_that_does_not_fit(spark, mixed_table,
                                                                                              tmp_path):
    summary = build_features.run(spark, config_for_tests("validation.enabled=false"), mixed_table,
                                 str(tmp_path / "features"))
    assert (summary["rows_in"], summary["rows_out"], summary["rows_quarantined"]) == (3, 2, 1)
    assert list(summary["quarantine_reasons"]) == [
        f"fits_type(tx_time_days): a bigint read as int must lie in [-2147483648, 2147483647], found {TOO_MANY_DAYS}"]
    assert Path(tmp_path / "features" / f"tx_date={FIRST}").is_dir()


def test_a_file_with_nanosecond_timestamps_as_pandas_writes_them_is_read_to_the_microsecond(spark, tmp_path):
    import pandas as pd

    table = tmp_path / "transactions"
    (table / f"tx_date={FIRST}").mkdir(parents=True)
    frame = pd.DataFrame([book_row(1, 0), book_row(2, 0)])
    # a nanosecond count that a double would round, and one below a whole microsecond
    frame["TX_DATETIME"] = pd.to_datetime(["2018-04-01 00:00:32.123456789", "2018-04-01 23:59:59.999999999"])
    frame.to_parquet(table / f"tx_date={FIRST}" / "part-0.parquet", index=False)  # pandas' default: nanoseconds
    partitions = list(list_partitions(spark, str(table)).values())
    got = read_partitions(spark, str(table), partitions, RAW_TRANSACTIONS, allow_extra_columns=False).select(
        "transaction_id", "tx_datetime").orderBy("transaction_id")
    utc = dt.timezone.utc
    expected = spark.createDataFrame([(1, dt.datetime(2018, 4, 1, 0, 0, 32, 123456, tzinfo=utc)),
                                      (2, dt.datetime(2018, 4, 1, 23, 59, 59, 999999, tzinfo=utc))],
                                     "transaction_id bigint, tx_datetime timestamp")
    assert_df_equality(got, expected, ignore_nullable=True)
