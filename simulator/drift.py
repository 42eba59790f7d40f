"""Optional drift of the simulated data from a date on (`simulator.drift`), so that monitoring can be shown to catch
it: more or fewer transactions a day, amounts shifted by a factor, and a new fraud scenario (4, card testing) in
which compromised cards make a burst of small card-not-present payments at random terminals.

The rows still depend only on the seed. A changed volume changes how many draws each card makes, so with drift on
the days before its start are a different sample of the same distribution, not the same rows.
"""
from __future__ import annotations

import numpy as np

from conf import SimulatorConf
from simulator.profiles import entity_rng

STREAM_CARD_TESTING_CARDS = 7
STREAM_CARD_TESTING_TX = 8
SCENARIO_CARD_TESTING = 4
CARD_TESTING_MIN_AMOUNT = 1.0
SECONDS_PER_DAY = 86_400


def drift_day(sim: SimulatorConf) -> int | None:
    """The first drifted day as a day index, or None without drift."""
    if sim.drift.start_date is None:
        return None
    return (sim.drift.start_date - sim.start_date).days


def daily_counts(rng: np.random.Generator, mean_nb_tx: float, sim: SimulatorConf) -> np.ndarray:
    """Poisson counts for each day; from the drift day on, the mean is multiplied by `volume_factor`."""
    first = drift_day(sim)
    if first is None or sim.drift.volume_factor == 1.0:
        return rng.poisson(mean_nb_tx, sim.days)
    means = np.where(np.arange(sim.days) >= first, mean_nb_tx * sim.drift.volume_factor, mean_nb_tx)
    return rng.poisson(means)


def shifted_amounts(amount: np.ndarray, day: np.ndarray, sim: SimulatorConf) -> np.ndarray:
    """Amounts of days from the drift day on multiplied by `amount_factor`."""
    first = drift_day(sim)
    if first is None or sim.drift.amount_factor == 1.0:
        return amount
    return np.where(day >= first, amount * sim.drift.amount_factor, amount)


def card_testing_schedule(sim: SimulatorConf) -> dict[int, list[int]]:
    """Customer id -> the days on which the card is used for card testing (drawn per day from the drift day on)."""
    first = drift_day(sim)
    schedule: dict[int, list[int]] = {}
    if first is None or sim.drift.card_testing_cards_per_day <= 0:
        return schedule
    for day in range(max(first, 0), sim.days):
        rng = entity_rng(sim.seed, STREAM_CARD_TESTING_CARDS, day)
        for customer in rng.choice(sim.customers, sim.drift.card_testing_cards_per_day, replace=False):
            schedule.setdefault(int(customer), []).append(day)
    return schedule


def card_testing_rows(customer_id: int, days: list[int], sim: SimulatorConf) -> tuple[np.ndarray, ...]:
    """(day, time of day, amount, terminal) of a card's testing payments: `card_testing_tx_per_card` on each of
    `days`, at uniform times of day, U(1, max amount), at uniform terminals of the whole grid."""
    per_card = sim.drift.card_testing_tx_per_card
    parts = []
    for day in days:
        rng = entity_rng(sim.seed, STREAM_CARD_TESTING_TX, customer_id, day)
        parts.append((np.full(per_card, day, dtype=np.int64),
                      rng.integers(1, SECONDS_PER_DAY, per_card, dtype=np.int64),
                      rng.uniform(CARD_TESTING_MIN_AMOUNT, sim.drift.card_testing_max_amount, per_card),
                      rng.integers(0, sim.terminals, per_card, dtype=np.int64)))
    if not parts:
        empty_int = np.zeros(0, dtype=np.int64)
        return empty_int, empty_int, np.zeros(0), empty_int
    return tuple(np.concatenate(column) for column in zip(*parts))
