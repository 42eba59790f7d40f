"""The Column helpers for card numbers and personal fields: the keyed card id, the masked number, the age and the
distance that stand in for a date of birth and a home."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from ingest.sensitive import ID_MASK, age_in_years, haversine_km, keyed_id, masked_card_number

KEY = bytes.fromhex("00112233445566778899aabbccddeeff0123456789abcdef")


def test_the_keyed_id_is_hmac_sha256_of_the_text_cut_to_63_bits_and_null_for_null(spark):
    numbers = [f"40000012345678{i:02d}" for i in range(20)] + [None]  # nulls among numbers in one batch
    df = spark.createDataFrame([(n,) for n in numbers], "number string").coalesce(1)
    got = [r.id for r in df.select(keyed_id(F.col("number"), KEY).alias("id")).collect()]
    want = [int.from_bytes(hmac.new(KEY, n.encode(), hashlib.sha256).digest()[:8], "big") & ID_MASK
            for n in numbers[:-1]]
    assert got == [*want, None]


def test_another_key_gives_other_ids_and_the_unkeyed_hash_of_the_number_is_not_the_id(spark):
    df = spark.createDataFrame([(f"40000012345678{i:02d}",) for i in range(50)], "number string")
    ids = [r.id for r in df.select(keyed_id(F.col("number"), KEY).alias("id")).collect()]
    others = [r.id for r in df.select(keyed_id(F.col("number"), KEY[::-1]).alias("id")).collect()]
    plain = [r.id for r in df.select(F.xxhash64("number").bitwiseAND(F.lit(ID_MASK)).alias("id")).collect()]
    assert len(set(ids)) == 50 and not set(ids) & set(others) and not set(ids) & set(plain)


def test_a_short_key_is_refused():
    with pytest.raises(ValueError, match="at least 16"):
        keyed_id(F.col("number"), b"short")


def test_a_card_number_keeps_its_first_six_and_last_four_digits_and_a_short_number_nothing(spark):
    df = spark.createDataFrame([("4000 0012 3456 7899",), ("4000-0012-3456",), ("12345678901",), (None,)],
                               "number string")
    got = [r.shown for r in df.select(masked_card_number(F.col("number")).alias("shown")).collect()]
    assert got == ["400000******7899", "400000**3456", "***********", None]


def test_distance_is_the_great_circle_distance_and_null_without_a_location(spark):
    df = spark.createDataFrame([(1, 40.0, -74.0, 40.0, -74.0), (2, 40.0, -74.0, 41.0, -74.0),
                                (3, 0.0, 0.0, 0.0, 180.0), (4, None, -74.0, 41.0, -74.0)],
                               "id int, lat double, long double, merch_lat double, merch_long double")
    distance = haversine_km(F.col("lat"), F.col("long"), F.col("merch_lat"), F.col("merch_long"))
    got = {r.id: r.km for r in df.select("id", distance.alias("km")).collect()}
    assert got[1] == 0.0
    assert got[2] == pytest.approx(111.195, abs=0.01)  # one degree of latitude
    assert got[3] == pytest.approx(20_015.1, abs=0.5)  # half the equator
    assert got[4] is None


BIRTH = dt.date(1990, 6, 15)


def ages(spark, rows):
    """(dob, tx_datetime) rows -> the same rows with the age in whole years at the transaction's UTC date."""
    df = spark.createDataFrame(rows, "dob date, tx_datetime timestamp")
    return df.select("dob", "tx_datetime", age_in_years(F.col("dob"), F.to_date("tx_datetime")).alias("age"))


def test_the_age_rises_on_the_birthday_itself(spark):
    eve = dt.datetime(2020, 6, 14, 23, 59, 59, tzinfo=dt.timezone.utc)  # the last second before the birthday (UTC)
    birthday = dt.datetime(2020, 6, 15, 0, 0, 0, tzinfo=dt.timezone.utc)
    got = ages(spark, [(BIRTH, eve), (BIRTH, birthday)])
    want = spark.createDataFrame([(BIRTH, eve, 29), (BIRTH, birthday, 30)], "dob date, tx_datetime timestamp, age int")
    assert_df_equality(got, want, ignore_nullable=True)


def test_a_29_february_birthday_counts_from_1_march_in_other_years(spark):
    leap = dt.date(2000, 2, 29)
    feb_28, mar_1 = (dt.datetime(2021, 2, 28, 12, tzinfo=dt.timezone.utc),
                     dt.datetime(2021, 3, 1, 12, tzinfo=dt.timezone.utc))
    got = ages(spark, [(leap, feb_28), (leap, mar_1)])
    want = spark.createDataFrame([(leap, feb_28, 20), (leap, mar_1, 21)], "dob date, tx_datetime timestamp, age int")
    assert_df_equality(got, want, ignore_nullable=True)


def test_the_age_is_null_without_a_date_of_birth(spark):
    when = dt.datetime(2020, 6, 15, tzinfo=dt.timezone.utc)
    got = ages(spark, [(None, when)])
    want = spark.createDataFrame([(None, when, None)], "dob date, tx_datetime timestamp, age int")
    assert_df_equality(got, want, ignore_nullable=True)
