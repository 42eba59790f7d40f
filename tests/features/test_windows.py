"""Window edges of the customer and terminal features, pinned with literal rows, and the vectorised transforms
checked against Spark's own range frames on generated data."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F, types as T

from features import with_customer_spending_windows, with_terminal_risk
from tests.reference_windows import reference_features

T0 = dt.datetime(2018, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)

RAW = T.StructType([
    T.StructField("transaction_id", T.LongType()),
    T.StructField("tx_datetime", T.TimestampType()),
    T.StructField("customer_id", T.LongType()),
    T.StructField("terminal_id", T.LongType()),
    T.StructField("tx_amount", T.DoubleType()),
    T.StructField("tx_fraud", T.IntegerType()),
])


def raw(spark, rows):
    df = spark.createDataFrame(rows, RAW)
    return df.select("*", F.to_date("tx_datetime").alias("tx_date"))


def customer_window(df, n):
    return df.transform(with_customer_spending_windows, (n,), 3).select(
        "transaction_id", f"customer_id_nb_tx_{n}day_window", f"customer_id_avg_amount_{n}day_window")


def expected(spark, rows, names, types):
    schema = T.StructType([T.StructField("transaction_id", T.LongType())] +
                          [T.StructField(n, t) for n, t in zip(names, types)])
    return spark.createDataFrame(rows, schema)


def customer_names(n):
    return (f"customer_id_nb_tx_{n}day_window", f"customer_id_avg_amount_{n}day_window")


INT_DOUBLE = (T.IntegerType(), T.DoubleType())
WINDOWS = [1, 7, 30]


@pytest.mark.parametrize("n", WINDOWS)
def test_customer_window_excludes_a_row_exactly_n_days_earlier(spark, n):
    df = raw(spark, [(1, T0 - n * DAY, 10, 1, 10.0, 0), (2, T0, 10, 1, 30.0, 0)])
    want = expected(spark, [(1, 1, 10.0), (2, 1, 30.0)], customer_names(n), INT_DOUBLE)
    assert_df_equality(customer_window(df, n), want, ignore_row_order=True)


@pytest.mark.parametrize("n", WINDOWS)
def test_customer_window_includes_a_row_one_second_inside(spark, n):
    df = raw(spark, [(1, T0 - n * DAY + SECOND, 10, 1, 10.0, 0), (2, T0, 10, 1, 30.0, 0)])
    want = expected(spark, [(1, 1, 10.0), (2, 2, 20.0)], customer_names(n), INT_DOUBLE)
    assert_df_equality(customer_window(df, n), want, ignore_row_order=True)


def test_customer_window_counts_same_second_peers_and_keeps_cards_apart(spark):
    df = raw(spark, [(1, T0, 10, 1, 10.0, 0), (2, T0, 10, 2, 20.0, 0), (3, T0, 11, 1, 99.0, 0)])
    want = expected(spark, [(1, 2, 15.0), (2, 2, 15.0), (3, 1, 99.0)], customer_names(1), INT_DOUBLE)
    assert_df_equality(customer_window(df, 1), want, ignore_row_order=True)


def test_card_with_one_transaction_counts_itself(spark):
    df = raw(spark, [(1, T0, 10, 1, 42.5, 0)])
    got = df.transform(with_customer_spending_windows, (1, 7, 30), 1).select(
        "customer_id_nb_tx_1day_window", "customer_id_nb_tx_30day_window", "customer_id_avg_amount_30day_window")
    assert got.first() == (1, 1, 42.5)


def terminal_names(n):
    return (f"terminal_id_nb_tx_{n}day_window", f"terminal_id_risk_{n}day_window")


def terminal_window(df, n):
    return df.transform(with_terminal_risk, (n,), 7, 3).select("transaction_id", *terminal_names(n))


@pytest.mark.parametrize("n", WINDOWS)
def test_terminal_window_includes_a_row_exactly_delay_days_earlier(spark, n):
    df = raw(spark, [(1, T0 - 7 * DAY, 10, 5, 1.0, 1), (2, T0, 11, 5, 1.0, 0)])
    want = expected(spark, [(1, 0, 0.0), (2, 1, 1.0)], terminal_names(n), INT_DOUBLE)
    assert_df_equality(terminal_window(df, n), want, ignore_row_order=True)


@pytest.mark.parametrize("n", WINDOWS)
def test_terminal_window_excludes_a_row_one_second_inside_the_delay(spark, n):
    df = raw(spark, [(1, T0 - 7 * DAY + SECOND, 10, 5, 1.0, 1), (2, T0, 11, 5, 1.0, 0)])
    want = expected(spark, [(1, 0, 0.0), (2, 0, 0.0)], terminal_names(n), INT_DOUBLE)
    assert_df_equality(terminal_window(df, n), want, ignore_row_order=True)


@pytest.mark.parametrize("n", WINDOWS)
def test_terminal_window_excludes_a_row_exactly_delay_plus_n_days_earlier(spark, n):
    df = raw(spark, [(1, T0 - (7 + n) * DAY, 10, 5, 1.0, 1), (2, T0 - (7 + n) * DAY + SECOND, 12, 5, 1.0, 0),
                     (3, T0, 11, 5, 1.0, 0)])
    got = terminal_window(df, n).where("transaction_id = 3")
    assert_df_equality(got, expected(spark, [(3, 1, 0.0)], terminal_names(n), INT_DOUBLE))


def test_terminal_risk_is_the_share_of_frauds_and_never_counts_the_current_row(spark):
    rows = [(1, T0 - 8 * DAY + 10 * SECOND, 10, 5, 1.0, 1), (2, T0 - 7 * DAY - SECOND, 11, 5, 1.0, 0),
            (3, T0 - 7 * DAY - SECOND, 12, 5, 1.0, 0), (4, T0, 13, 5, 1.0, 1)]
    got = terminal_window(raw(spark, rows), 1).where("transaction_id = 4")
    assert_df_equality(got, expected(spark, [(4, 3, 1 / 3)], terminal_names(1), INT_DOUBLE))


def test_terminal_features_are_zero_during_the_first_delay_days(spark):
    rows = [(i, T0 + i * DAY, 10, 5, 1.0, 1) for i in range(7)]
    got = raw(spark, rows).transform(with_terminal_risk, (1, 7, 30), 7, 2)
    totals = got.agg(*[F.sum(c) for c in got.columns if c.startswith("terminal_id_")]).first()
    assert list(totals) == [0, 0.0, 0, 0.0, 0, 0.0]


def test_transforms_keep_every_column_and_row(spark):
    df = raw(spark, [(1, T0, 10, 5, 1.0, 0), (2, T0 + SECOND, 11, 6, 2.0, 1)])
    got = df.transform(with_customer_spending_windows, (1,), 2).transform(with_terminal_risk, (1,), 7, 2)
    assert_df_equality(got.select(*df.columns), df, ignore_row_order=True)


@pytest.mark.parametrize("groups", [1, 5])
def test_vectorised_windows_match_spark_range_frames(spark, small_raw, groups):
    df = spark.read.parquet(f"{small_raw}/transactions")
    ours = (df.transform(with_customer_spending_windows, (1, 7, 30), groups)
            .transform(with_terminal_risk, (1, 7, 30), 7, groups))
    want = reference_features(df)
    got = ours.select(*want.columns)
    assert got.count() == df.count()
    assert_approx_df_equality(got.orderBy("transaction_id"), want.orderBy("transaction_id"), precision=1e-9,
                              ignore_nullable=True)
