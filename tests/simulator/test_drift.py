"""Drift injection: volume, amounts and the card-testing scenario start on the configured date and not before."""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from conf import DriftConf
from simulator.drift import SCENARIO_CARD_TESTING, card_testing_schedule
from simulator.transactions import CardSimulator, _one_customer
from tests.conftest import config_for_tests

SIM = dataclasses.replace(config_for_tests().simulator, days=40, customers=50, terminals=100)
DRIFT_DAY = 20


def drifted(**drift) -> object:
    return dataclasses.replace(SIM, drift=DriftConf(start_date=SIM.start_date + dt.timedelta(days=DRIFT_DAY),
                                                    **drift))


def customer(sim, testing_days=None, mean_nb=3.0):
    return _one_customer((7, 50.0, 25.0, mean_nb, np.array([3, 4, 5])), sim, np.array([], dtype=np.int64),
                         testing_days)


def test_without_drift_the_rows_are_the_undrifted_simulators():
    plain, off = customer(SIM), customer(dataclasses.replace(SIM, drift=DriftConf()))
    assert all(np.array_equal(plain[k], off[k]) for k in plain)


def test_volume_and_amounts_change_from_the_drift_day_on():
    base, moved = customer(SIM, mean_nb=4.0), customer(drifted(volume_factor=3.0, amount_factor=2.0), mean_nb=4.0)
    late = lambda tx: tx["tx_time_days"] >= DRIFT_DAY  # noqa: E731
    assert late(moved).sum() > 2 * late(base).sum()  # about 3x the transactions after the start
    assert abs((~late(moved)).sum() - (~late(base)).sum()) < 0.25 * (~late(base)).sum()
    assert moved["tx_amount"][late(moved)].mean() > 1.6 * moved["tx_amount"][~late(moved)].mean()


def test_card_testing_adds_small_fraud_payments_on_the_scheduled_days_only():
    sim = drifted(card_testing_cards_per_day=2, card_testing_tx_per_card=4, card_testing_max_amount=5.0)
    tx = customer(sim, testing_days=[DRIFT_DAY, DRIFT_DAY + 3])
    testing = tx["tx_fraud_scenario"] == SCENARIO_CARD_TESTING
    assert testing.sum() == 8
    assert set(tx["tx_time_days"][testing]) == {DRIFT_DAY, DRIFT_DAY + 3}
    assert np.all(tx["tx_fraud"][testing] == 1)
    assert tx["tx_amount"][testing].min() >= 1.0 and tx["tx_amount"][testing].max() <= 5.0
    assert np.all(np.diff(tx["tx_time_seconds"]) >= 0)  # still in time order


def test_the_card_testing_schedule_starts_on_the_drift_day():
    schedule = card_testing_schedule(drifted(card_testing_cards_per_day=3))
    days = sorted(d for ds in schedule.values() for d in ds)
    assert days[0] == DRIFT_DAY and len(days) == 3 * (SIM.days - DRIFT_DAY)
    assert card_testing_schedule(SIM) == {}


def test_the_counting_pass_gives_each_days_count_of_the_generated_rows():
    """The ids' day offsets come from a lighter pass (`CardSimulator.daily_counts`): it must count exactly the rows
    the full simulation makes, also with drift's changed volumes and card-testing payments."""
    sim = drifted(volume_factor=2.0, card_testing_cards_per_day=3, card_testing_tx_per_card=4)
    for config in (SIM, sim):
        cards = CardSimulator(config)
        ids = np.arange(config.customers, dtype=np.int64)
        generated = [rows["tx_time_days"] for rows in cards.before_scenario_3(ids) if rows is not None]
        expected = np.bincount(np.concatenate(generated), minlength=config.days)
        assert expected.sum() > 0
        assert np.array_equal(cards.daily_counts(ids), expected)
    assert CardSimulator(sim).testing  # the drifted run did add card-testing payments
