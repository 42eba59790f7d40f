"""The validation protocol of handbook §3: train / delay / test blocks, prequential folds, and the test days'
removal of cards already known to be compromised.

Validation folds end before the test folds begin, so choosing a setting never sees a test day. Fold f of
either kind is fold 0 shifted back by f blocks.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from pyspark.sql import Column, DataFrame, functions as F

from conf import ProtocolConf

VALIDATION, TEST, FINAL = "validation", "test", "final"


@dataclasses.dataclass(frozen=True)
class Fold:
    kind: str
    index: int
    train_start: dt.date
    block_days: int
    delay_days: int
    history_days: int = 0  # training also reads this many days before the block (their labels are known too)

    @property
    def fit_start(self) -> dt.date:
        """The first training day: the block's start, or earlier with `history_days`."""
        return self.train_start - dt.timedelta(days=self.history_days)

    @property
    def fit_days(self) -> int:
        return self.history_days + self.block_days

    @property
    def train_end(self) -> dt.date:
        return self.train_start + dt.timedelta(days=self.block_days - 1)

    @property
    def test_start(self) -> dt.date:
        return self.train_end + dt.timedelta(days=self.delay_days + 1)

    @property
    def test_end(self) -> dt.date:
        return self.test_start + dt.timedelta(days=self.block_days - 1)

    @property
    def first_date(self) -> dt.date:
        return self.fit_start

    @property
    def last_date(self) -> dt.date:
        return self.train_end if self.kind == FINAL else self.test_end

    def as_dict(self) -> dict:
        row = {"kind": self.kind, "fold": self.index, "train": [str(self.fit_start), str(self.train_end)]}
        if self.kind != FINAL:
            row.update(delay=[str(self.train_end + dt.timedelta(days=1)),
                              str(self.test_start - dt.timedelta(days=1))],
                       test=[str(self.test_start), str(self.test_end)])
        return row


def prequential_folds(protocol: ProtocolConf, kind: str) -> list[Fold]:
    """Fold 0 is the most recent. Test fold `folds - 1` trains from `protocol.training_start`; validation fold 0
    tests on that same week, so its test period ends the day before the first test fold's training ends."""
    block, delay = protocol.block_days, protocol.delay_days
    if kind == TEST:
        newest = protocol.training_start + dt.timedelta(days=(protocol.folds - 1) * block)
    elif kind == VALIDATION:
        newest = protocol.training_start - dt.timedelta(days=delay + block)
    else:
        raise ValueError(f"unknown fold kind {kind!r}")
    return [Fold(kind, f, newest - dt.timedelta(days=f * block), block, delay, protocol.history_days)
            for f in range(protocol.folds)]


def final_fold(protocol: ProtocolConf, last_date: dt.date) -> Fold:
    """The most recent training block whose labels are known on `last_date`: it ends `delay_days` before it."""
    end = last_date - dt.timedelta(days=protocol.delay_days)
    return Fold(FINAL, 0, end - dt.timedelta(days=protocol.block_days - 1), protocol.block_days,
                protocol.delay_days, protocol.history_days)


def calendar(folds: list[Fold]) -> list[dict]:
    return [fold.as_dict() for fold in folds]


def _between(day: str, start: dt.date, end: dt.date) -> Column:
    return F.col(day).between(F.lit(start), F.lit(end))


def training_rows(features: DataFrame, fold: Fold, day: str = "tx_date") -> DataFrame:
    return features.where(_between(day, fold.fit_start, fold.train_end))


def assessed_rows(features: DataFrame, fold: Fold, card: str = "customer_id", day: str = "tx_date",
              label: str = "tx_fraud") -> DataFrame:
    """The fold's test days without the transactions of known compromised cards: a card is known on test day d
    once it had a fraud between the training start and d - delay - 1 (its label is known by then)."""
    first_known = "_first_known_fraud"
    known_until = fold.test_end - dt.timedelta(days=fold.delay_days + 1)
    first_fraud = (
        features.where(_between(day, fold.train_start, known_until) & (F.col(label) == 1))
        .groupBy(card).agg(F.min(day).alias(first_known))
    )
    is_known = F.col(first_known) <= F.date_sub(F.col(day), fold.delay_days + 1)
    return (
        features.where(_between(day, fold.test_start, fold.test_end))
        .join(first_fraud, on=card, how="left")
        .where(F.col(first_known).isNull() | ~is_known)
        .drop(first_known)
    )
