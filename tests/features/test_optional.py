"""Optional features of ingested shapes: home-to-merchant distance and the delayed category risk."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from chispa import assert_df_equality

from features.optional import with_cardholder_age, with_category_risk, with_home_merchant_distance

T0 = dt.datetime(2020, 6, 20, 12, 0, 0)
DAY = dt.timedelta(days=1)


def test_distance_is_the_great_circle_distance_and_null_without_a_location(spark):
    df = spark.createDataFrame([(1, 40.0, -74.0, 40.0, -74.0), (2, 40.0, -74.0, 41.0, -74.0),
                                (3, 0.0, 0.0, 0.0, 180.0), (4, None, -74.0, 41.0, -74.0)],
                               "id int, lat double, long double, merch_lat double, merch_long double")
    got = {r.id: r.home_merchant_distance_km for r in with_home_merchant_distance(df).collect()}
    assert got[1] == 0.0
    assert got[2] == pytest.approx(111.195, abs=0.01)  # one degree of latitude
    assert got[3] == pytest.approx(20_015.1, abs=0.5)  # half the equator
    assert got[4] is None


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


BIRTH = dt.date(1990, 6, 15)


def ages(spark, rows):
    """(dob, tx_datetime) rows -> the same rows with cardholder_age_years."""
    df = spark.createDataFrame(rows, "dob date, tx_datetime timestamp")
    return with_cardholder_age(df).select("dob", "tx_datetime", "cardholder_age_years")


def test_the_age_rises_on_the_birthday_itself(spark):
    eve = dt.datetime(2020, 6, 14, 23, 59, 59, tzinfo=dt.timezone.utc)  # the last second before the birthday (UTC)
    birthday = dt.datetime(2020, 6, 15, 0, 0, 0, tzinfo=dt.timezone.utc)
    got = ages(spark, [(BIRTH, eve), (BIRTH, birthday)])
    want = spark.createDataFrame([(BIRTH, eve, 29.0), (BIRTH, birthday, 30.0)],
                                 "dob date, tx_datetime timestamp, cardholder_age_years double")
    assert_df_equality(got, want)


def test_a_29_february_birthday_counts_from_1_march_in_other_years(spark):
    leap = dt.date(2000, 2, 29)
    feb_28, mar_1 = (dt.datetime(2021, 2, 28, 12, tzinfo=dt.timezone.utc),
                     dt.datetime(2021, 3, 1, 12, tzinfo=dt.timezone.utc))
    got = ages(spark, [(leap, feb_28), (leap, mar_1)])
    want = spark.createDataFrame([(leap, feb_28, 20.0), (leap, mar_1, 21.0)],
                                 "dob date, tx_datetime timestamp, cardholder_age_years double")
    assert_df_equality(got, want)


def test_the_age_is_null_without_a_date_of_birth(spark):
    when = dt.datetime(2020, 6, 15, tzinfo=dt.timezone.utc)
    got = ages(spark, [(None, when)])
    want = spark.createDataFrame([(None, when, None)], "dob date, tx_datetime timestamp, cardholder_age_years double")
    assert_df_equality(got, want)
