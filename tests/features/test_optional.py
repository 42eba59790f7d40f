"""Optional features of ingested shapes: the delayed category risk (distance and age: tests/ingest/test_sensitive.py)."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from features.optional import with_category_risk

T0 = dt.datetime(2020, 6, 20, 12, 0, 0)
DAY = dt.timedelta(days=1)


def rows(spark, *values):
    schema = "transaction_id long, tx_datetime timestamp, category string, tx_fraud int"
    return spark.createDataFrame(list(values), schema).select("*", F.to_date("tx_datetime").alias("tx_date"))


def risk(spark, *history):
    """Category risk of a transaction at T0 in category 'a' after `history` rows (offset, category, fraud)."""
    df = rows(spark, (0, T0, "a", 0), *[(i + 1, T0 - offset, c, f) for i, (offset, c, f) in enumerate(history)])
    out = with_category_risk(df, "category", (1, 7), delay_days=7, groups=2)
    got = out.where(F.col("transaction_id") == 0).first()
    return got.category_risk_1day_window, got.category_risk_7day_window


def test_a_fraud_exactly_delay_days_earlier_counts_and_a_newer_one_does_not(spark):
    assert risk(spark, (7 * DAY, "a", 1), (7 * DAY - dt.timedelta(seconds=1), "a", 1)) == (1.0, 1.0)


def test_the_window_starts_just_after_delay_plus_n_days(spark):
    # 8 days earlier is outside the 1-day window (t - 8d, t - 7d] but inside the 7-day one (t - 14d, t - 7d]
    assert risk(spark, (8 * DAY, "a", 1), (7 * DAY, "a", 0), (14 * DAY, "a", 1)) == (0.0, 0.5)


def test_other_categories_do_not_count_and_an_empty_window_is_zero(spark):
    assert risk(spark, (7 * DAY, "b", 1)) == (0.0, 0.0)


def test_rows_without_a_category_share_one_unknown_category(spark):
    df = rows(spark, (0, T0, None, 0), (1, T0 - 7 * DAY, None, 1))
    got = with_category_risk(df, "category", (1,), delay_days=7, groups=1).where(F.col("transaction_id") == 0)
    assert got.first().category_risk_1day_window == 1.0
