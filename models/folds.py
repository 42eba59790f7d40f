"""The validation protocol of handbook §3: train / delay / test blocks, prequential folds, and the test days'
removal of cards already known to be compromised.

Validation folds end before the test folds begin, so choosing a setting never sees a test day. Fold f of
either kind is fold 0 shifted back by f blocks.

The unit of blocks, delays and history is the day (the book's) or the hour (`protocol.unit: hours`, for sets a few
days long such as the ULB set's 48 hours). With days a fold's bounds are dates matched to `tx_date`; with hours
they are UTC datetimes matched to `_period`, the hour each transaction falls in (`with_period`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from pyspark.sql import Column, DataFrame, functions as F

from conf import ProtocolConf

VALIDATION, TEST, FINAL = "validation", "test", "final"
UNITS = {"days": dt.timedelta(days=1), "hours": dt.timedelta(hours=1)}
DAY, HOUR = UNITS["days"], UNITS["hours"]
PERIOD = "_period"  # with hours: the start of the hour of tx_datetime


def with_period(features: DataFrame, unit: str) -> DataFrame:
    """`features` with `_period` when the protocol's unit is the hour (days use the `tx_date` partition)."""
    if UNITS[unit] == DAY:
        return features
    return features.select("*", F.date_trunc("hour", F.col("tx_datetime")).alias(PERIOD))


def first_period(protocol: ProtocolConf) -> dt.date | dt.datetime:
    """The first test fold's training start: a date, or with hours that date's `training_start_hour` (UTC)."""
    if UNITS[protocol.unit] == DAY:
        return protocol.training_start
    return dt.datetime.combine(protocol.training_start, dt.time(protocol.training_start_hour), dt.timezone.utc)


def last_period(last_date: dt.date, unit: str) -> dt.date | dt.datetime:
    """The last period of `last_date`: the date, or its last hour (UTC)."""
    if UNITS[unit] == DAY:
        return last_date
    return dt.datetime.combine(last_date, dt.time(23), dt.timezone.utc)


def period_text(period: dt.date | dt.datetime) -> str:
    return period.isoformat(timespec="minutes") if isinstance(period, dt.datetime) else str(period)


@dataclasses.dataclass(frozen=True)
class Fold:
    kind: str
    index: int
    train_start: dt.date
    block_days: int
    delay_days: int
    history_days: int = 0  # training also reads this many days before the block (their labels are known too)
    unit: dt.timedelta = DAY  # of block_days, delay_days and history_days: a day or an hour

    @property
    def period(self) -> str:
        """The column a period of this fold is matched to."""
        return "tx_date" if self.unit == DAY else PERIOD

    @property
    def fit_start(self) -> dt.date:
        """The first training day: the block's start, or earlier with `history_days`."""
        return self.train_start - self.unit * self.history_days

    @property
    def fit_days(self) -> int:
        return self.history_days + self.block_days

    @property
    def train_end(self) -> dt.date:
        return self.train_start + self.unit * (self.block_days - 1)

    @property
    def test_start(self) -> dt.date:
        return self.train_end + self.unit * (self.delay_days + 1)

    @property
    def test_end(self) -> dt.date:
        return self.test_start + self.unit * (self.block_days - 1)

    @property
    def first_date(self) -> dt.date:
        return self.fit_start

    @property
    def last_date(self) -> dt.date:
        return self.train_end if self.kind == FINAL else self.test_end

    def as_dict(self) -> dict:
        row = {"kind": self.kind, "fold": self.index,
               "train": [period_text(self.fit_start), period_text(self.train_end)]}
        if self.kind != FINAL:
            row.update(delay=[period_text(self.train_end + self.unit), period_text(self.test_start - self.unit)],
                       test=[period_text(self.test_start), period_text(self.test_end)])
        return row


def prequential_folds(protocol: ProtocolConf, kind: str) -> list[Fold]:
    """Fold 0 is the most recent. Test fold `folds - 1` trains from `protocol.training_start`; validation fold 0
    tests on that same week, so its test period ends the day before the first test fold's training ends."""
    block, delay, unit = protocol.block_days, protocol.delay_days, UNITS[protocol.unit]
    if kind == TEST:
        newest = first_period(protocol) + unit * ((protocol.folds - 1) * block)
    elif kind == VALIDATION:
        newest = first_period(protocol) - unit * (delay + block)
    else:
        raise ValueError(f"unknown fold kind {kind!r}")
    return [Fold(kind, f, newest - unit * (f * block), block, delay, protocol.history_days, unit)
            for f in range(protocol.folds)]


def final_fold(protocol: ProtocolConf, last_date: dt.date) -> Fold:
    """The most recent training block whose labels are known on `last_date` (with hours: at its last hour): it
    ends `delay_days` periods before it."""
    unit = UNITS[protocol.unit]
    end = last_period(last_date, protocol.unit) - unit * protocol.delay_days
    return Fold(FINAL, 0, end - unit * (protocol.block_days - 1), protocol.block_days, protocol.delay_days,
                protocol.history_days, unit)


def rolling_protocol(protocol: ProtocolConf, end: dt.date) -> ProtocolConf:
    """The protocol with its folds moved so that the newest test fold's test days end where labels have matured
    on `end` (`delay_days` before it): what a retrain on `end` validates and tests on. Days only."""
    if protocol.unit != "days":
        raise ValueError("a rolling retrain counts days; this protocol counts " + protocol.unit)
    block, delay = protocol.block_days, protocol.delay_days
    newest_start = end - dt.timedelta(days=delay + (block + delay + block - 1))  # its test days end at end - delay
    return dataclasses.replace(protocol, training_start=newest_start - dt.timedelta(days=(protocol.folds - 1) * block))


def calendar(folds: list[Fold]) -> list[dict]:
    return [fold.as_dict() for fold in folds]


def _between(day: str, start: dt.date, end: dt.date) -> Column:
    return F.col(day).between(F.lit(start), F.lit(end))


def _earlier(period: Column, fold: Fold, count: int) -> Column:
    """`count` of the fold's units before `period`."""
    if fold.unit == DAY:
        return F.date_sub(period, count)
    return period - F.expr(f"INTERVAL {int(count)} HOURS")


def training_rows(features: DataFrame, fold: Fold, day: str | None = None) -> DataFrame:
    return features.where(_between(day or fold.period, fold.fit_start, fold.train_end))


def assessed_rows(features: DataFrame, fold: Fold, card: str = "customer_id", day: str | None = None,
                  label: str = "tx_fraud") -> DataFrame:
    """The fold's test days without the transactions of known compromised cards: a card is known on test day d
    once it had a fraud between the training start and d - delay - 1 (its label is known by then). With hours,
    the same in hours."""
    day = day or fold.period
    first_known = "_first_known_fraud"
    known_until = fold.test_end - fold.unit * (fold.delay_days + 1)
    first_fraud = (
        features.where(_between(day, fold.train_start, known_until) & (F.col(label) == 1))
        .groupBy(card).agg(F.min(day).alias(first_known))
    )
    is_known = F.col(first_known) <= _earlier(F.col(day), fold, fold.delay_days + 1)
    return (
        features.where(_between(day, fold.test_start, fold.test_end))
        .join(first_fraud, on=card, how="left")
        .where(F.col(first_known).isNull() | ~is_known)
        .drop(first_known)
    )
