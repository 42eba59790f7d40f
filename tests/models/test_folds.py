"""The fold calendar of handbook §3 and the removal of known compromised cards from the test days."""
from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import types as T

from conf import ProtocolConf
from models.folds import FINAL, TEST, VALIDATION, Fold, final_fold, prequential_folds, assessed_rows, training_rows

D0 = dt.date(2018, 7, 1)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def test_the_book_calendar():
    protocol = ProtocolConf(history_days=0)
    test = prequential_folds(protocol, TEST)
    validation = prequential_folds(protocol, VALIDATION)
    assert [f.train_start for f in test] == [dt.date(2018, 8, d) for d in (15, 8, 1)] + [dt.date(2018, 7, 25)]
    assert [f.train_start for f in validation] == [dt.date(2018, 7, d) for d in (11, 4)] + [
        dt.date(2018, 6, d) for d in (27, 20)]
    assert (test[-1].train_end, test[-1].test_start, test[-1].test_end) == (
        dt.date(2018, 7, 31), dt.date(2018, 8, 8), dt.date(2018, 8, 14))
    assert (test[0].test_start, test[0].test_end) == (dt.date(2018, 8, 29), dt.date(2018, 9, 4))
    # validation folds test on days before the first test fold's test days
    assert max(f.test_end for f in validation) == dt.date(2018, 7, 31) < min(f.test_start for f in test)


def test_the_final_block_ends_a_delay_before_the_last_date():
    final = final_fold(ProtocolConf(history_days=0), dt.date(2018, 9, 30))
    assert (final.kind, final.train_start, final.train_end) == (FINAL, dt.date(2018, 9, 17), dt.date(2018, 9, 23))
    assert final.as_dict() == {"kind": FINAL, "fold": 0, "train": ["2018-09-17", "2018-09-23"]}


SCHEMA = T.StructType([T.StructField("customer_id", T.LongType()), T.StructField("tx_date", T.DateType()),
                       T.StructField("tx_fraud", T.IntegerType())])
# train days 0-1, delay day 2, test days 3-4; on test day d a card is known once it had a fraud on days 0 .. d-2
FOLD = Fold(TEST, 0, D0, block_days=2, delay_days=1)


def test_known_cards_leave_the_test_days_once_their_fraud_is_old_enough(spark):
    rows = [
        (1, day(1), 1), (1, day(3), 0), (1, day(4), 1),   # fraud in training: known on both test days
        (2, day(2), 1), (2, day(3), 1), (2, day(4), 0),   # fraud in the delay: known from day 4 (= 2 + delay + 1)
        (3, day(3), 1), (3, day(4), 1),                   # fraud on test day 3 is not known on day 4
        (4, day(-1), 1), (4, day(3), 0),                  # a fraud before the training start does not count
        (5, day(3), 0), (5, day(5), 0),                   # day 5 is after the test days
        (None, day(3), 0),                                # a null card is never known
    ]
    features = spark.createDataFrame(rows, SCHEMA)
    want = spark.createDataFrame([(2, day(3), 1), (3, day(3), 1), (3, day(4), 1), (4, day(3), 0), (5, day(3), 0),
                                  (None, day(3), 0)], SCHEMA)
    got = assessed_rows(features, FOLD).select("customer_id", "tx_date", "tx_fraud")
    assert_df_equality(got, want, ignore_row_order=True)


def test_training_rows_are_the_block_days(spark):
    features = spark.createDataFrame([(1, day(n), 0) for n in range(-1, 4)], SCHEMA)
    got = training_rows(features, FOLD).select("tx_date").collect()
    assert sorted(r.tx_date for r in got) == [day(0), day(1)]


def test_history_days_lengthen_training_but_not_the_test_days(spark):
    longer = Fold(TEST, 0, D0, block_days=2, delay_days=1, history_days=2)
    features = spark.createDataFrame([(1, day(n), 0) for n in range(-3, 4)], SCHEMA)
    got = training_rows(features, longer).select("tx_date").collect()
    assert sorted(r.tx_date for r in got) == [day(-2), day(-1), day(0), day(1)]
    assert (longer.fit_start, longer.first_date, longer.train_end, longer.test_start, longer.test_end) == (
        day(-2), day(-2), day(1), day(3), day(4))
    assert longer.as_dict()["train"] == [str(day(-2)), str(day(1))]


def test_history_days_do_not_change_which_cards_are_known(spark):
    # a fraud in the history days (before the block) counts as known no more than one before the data did: the
    # test days stay the book's, so results compare with its table
    longer = Fold(TEST, 0, D0, block_days=2, delay_days=1, history_days=2)
    rows = [(4, day(-1), 1), (4, day(3), 0), (1, day(1), 1), (1, day(3), 0)]
    features = spark.createDataFrame(rows, SCHEMA)
    assert_df_equality(assessed_rows(features, longer), assessed_rows(features, FOLD), ignore_row_order=True)
    assert [r.customer_id for r in assessed_rows(features, longer).collect()] == [4]


def test_history_days_apply_to_every_fold_kind():
    protocol = ProtocolConf(history_days=14)
    for fold in [*prequential_folds(protocol, TEST), *prequential_folds(protocol, VALIDATION),
                 final_fold(protocol, dt.date(2018, 9, 30))]:
        assert fold.fit_start == fold.train_start - dt.timedelta(days=14)
    book = prequential_folds(ProtocolConf(history_days=0), TEST)
    assert [f.test_start for f in prequential_folds(protocol, TEST)] == [f.test_start for f in book]


UTC = dt.timezone.utc
H0 = dt.datetime(2013, 9, 1, 0, 0, tzinfo=UTC)
ULB_PROTOCOL = ProtocolConf(unit="hours", training_start=dt.date(2013, 9, 1), training_start_hour=22, block_days=10,
                            delay_days=2, history_days=0, folds=1)


def hour(n: int) -> dt.datetime:
    return H0 + dt.timedelta(hours=n)


def test_an_hourly_calendar_counts_blocks_and_delays_in_hours():
    (test,), (validation,) = prequential_folds(ULB_PROTOCOL, TEST), prequential_folds(ULB_PROTOCOL, VALIDATION)
    assert (test.train_start, test.train_end, test.test_start, test.test_end) == (hour(22), hour(31), hour(34),
                                                                                  hour(43))
    assert (validation.train_start, validation.test_start, validation.test_end) == (hour(10), hour(22), hour(31))
    assert test.as_dict() == {"kind": TEST, "fold": 0, "train": ["2013-09-01T22:00+00:00", "2013-09-02T07:00+00:00"],
                              "delay": ["2013-09-02T08:00+00:00", "2013-09-02T09:00+00:00"],
                              "test": ["2013-09-02T10:00+00:00", "2013-09-02T19:00+00:00"]}


def test_the_hourly_final_block_ends_a_delay_before_the_last_hour_of_the_last_date():
    final = final_fold(ULB_PROTOCOL, dt.date(2013, 9, 2))
    assert (final.train_start, final.train_end) == (hour(36), hour(45))


HOURLY = T.StructType([T.StructField("customer_id", T.LongType()), T.StructField("_period", T.TimestampType()),
                       T.StructField("tx_fraud", T.IntegerType())])
# train hours 0-1, delay hour 2, test hours 3-4: on test hour h a card is known once it had a fraud in hours 0 .. h-2
HOURLY_FOLD = Fold(TEST, 0, H0, block_days=2, delay_days=1, unit=dt.timedelta(hours=1))


def test_an_hourly_training_block_holds_exactly_its_hours(spark):
    rows = spark.createDataFrame([(1, hour(-1), 0), (2, hour(0), 0), (3, hour(1), 1), (4, hour(2), 0)], HOURLY)
    got = training_rows(rows, HOURLY_FOLD).select("customer_id")
    assert_df_equality(got, spark.createDataFrame([(2,), (3,)], "customer_id bigint"), ignore_nullable=True)


def test_known_cards_leave_the_test_hours_once_their_fraud_is_old_enough(spark):
    rows = [
        (1, hour(1), 1), (1, hour(3), 0),                 # fraud in training: known on test hour 3
        (2, hour(2), 1), (2, hour(3), 1), (2, hour(4), 0),  # fraud in the delay: known from hour 4 (= 2 + 1 + 1)
        (3, hour(3), 1), (3, hour(4), 1),                 # fraud on test hour 3 is not known at hour 4
        (5, hour(5), 0),                                  # hour 5 is after the test hours
    ]
    want = spark.createDataFrame([(2, hour(3), 1), (3, hour(3), 1), (3, hour(4), 1)], HOURLY)
    got = assessed_rows(spark.createDataFrame(rows, HOURLY), HOURLY_FOLD).select("customer_id", "_period",
                                                                                 "tx_fraud")
    assert_df_equality(got, want, ignore_row_order=True)
