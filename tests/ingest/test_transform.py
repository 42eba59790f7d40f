"""The mapping transform on literal rows: types, time zones and origins, stable ids, parse failures."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from ingest.mapping import ColumnSpec, Mapping
from ingest.transform import PARSE_REASON, apply_mapping, stable_id, with_event_time

COLUMNS = ("id", "ts", "card", "shop", "amount", "label")


def mapping(time: ColumnSpec, **changes) -> Mapping:
    specs = {"transaction_id": ColumnSpec("transaction_id", "id", "long"), "tx_datetime": time,
             "customer_id": ColumnSpec("customer_id", "card", "long", derive="hash"),
             "terminal_id": ColumnSpec("terminal_id", "shop", "long", derive="hash"),
             "tx_amount": ColumnSpec("tx_amount", "amount", "double"),
             "tx_fraud": ColumnSpec("tx_fraud", "label", "int"), **changes}
    return Mapping("m", "m.yaml", tuple(specs.values()))


TEXT_TIME = ColumnSpec("tx_datetime", "ts", "timestamp", format="yyyy-MM-dd HH:mm:ss", time_zone="America/New_York")


def rows(spark, *values):
    return spark.createDataFrame(list(values), schema=", ".join(f"{c} string" for c in COLUMNS))


def test_text_times_in_a_zone_are_stored_as_utc_and_dated_by_utc(spark):
    out = apply_mapping(rows(spark, ("1", "2020-06-01 21:30:00", "c", "s", "5", "0")), mapping(TEXT_TIME)).first()
    assert out.tx_datetime == dt.datetime(2020, 6, 2, 1, 30)  # EDT is UTC-4
    assert out.tx_date == dt.date(2020, 6, 2) and out[PARSE_REASON] is None


def test_seconds_since_an_origin(spark):
    spec = ColumnSpec("tx_datetime", "ts", "timestamp", unit="seconds_since_origin", origin=dt.datetime(2013, 9, 1))
    out = apply_mapping(rows(spark, ("1", "86400.0", "c", "s", "5", "0")), mapping(spec)).first()
    assert out.tx_datetime == dt.datetime(2013, 9, 2)


@pytest.mark.parametrize("values, reason", [
    (("1", "01/06/2020", "c", "s", "5", "0"), "parse(tx_datetime): ts is not a timestamp"),
    (("1", "2020-06-01 00:00:00", "c", "s", "5,20", "0"), "parse(tx_amount): amount is not a double"),
    (("x1", "2020-06-01 00:00:00", "c", "s", "5", "0"), "parse(transaction_id): id is not a long"),
    (("1", "2020-06-01 00:00:00", "c", "s", "5", "0.5"), "parse(tx_fraud): label is not a int"),
])
def test_a_value_that_does_not_parse_is_named_with_its_source(spark, values, reason):
    out = apply_mapping(rows(spark, values), mapping(TEXT_TIME)).first()
    assert out[PARSE_REASON].startswith(reason)


def test_blank_values_are_missing_not_unparseable(spark):
    out = apply_mapping(rows(spark, ("1", "2020-06-01 00:00:00", " ", "s", "", "1.0")), mapping(TEXT_TIME)).first()
    assert (out.customer_id, out.tx_amount, out.tx_fraud, out[PARSE_REASON]) == (None, None, 1, None)


def test_stable_ids_are_non_negative_equal_for_equal_text_and_null_for_nothing(spark):
    df = spark.createDataFrame([("a",), ("a",), ("b",), (None,), ("",)], "k string")
    got = [r.i for r in df.select(stable_id(F.col("k")).alias("i")).collect()]
    assert got[0] == got[1] != got[2] and got[0] >= 0 and got[2] >= 0 and got[3:] == [None, None]


def test_row_ids_stand_for_missing_cards_and_terminals(spark):
    m = mapping(TEXT_TIME, transaction_id=ColumnSpec("transaction_id", derive="row_hash", type="long"),
                customer_id=ColumnSpec("customer_id", derive="row_id", type="long"))
    out = apply_mapping(rows(spark, ("1", "2020-06-01 00:00:00", "c", "s", "5", "0"),
                             ("2", "2020-06-01 00:00:00", "c", "s", "5", "0")), m).collect()
    assert out[0].customer_id == out[0].transaction_id != out[1].transaction_id == out[1].customer_id


def test_event_time_counts_from_midnight_of_the_origin(spark):
    df = spark.createDataFrame([(dt.datetime(2020, 6, 2, 0, 0, 1),), (dt.datetime(2020, 6, 1, 23, 59, 59),)],
                               "tx_datetime timestamp")
    got = [(r.tx_time_seconds, r.tx_time_days) for r in with_event_time(df, dt.date(2020, 6, 1)).collect()]
    assert got == [(86_401, 1), (86_399, 0)]
