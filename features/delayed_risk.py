"""Label-delay aware risk (issue 9), switched on by `features.delayed_risk_windows_days`: what the known labels
say about the terminal and the card. A label is known only `delay_days` after its transaction (handbook §2/§3):

- terminal, the book's convention (seconds of event time): labels of transactions at or before t - d;
  - `terminal_known_frauds_{n}day_window`: frauds in (t - (d + n) days, t - d days];
  - `terminal_known_fraud_streak`: how many of the terminal's latest known transactions in the longest window
    are frauds in a row (0 if the latest is genuine or there is none): a compromised terminal's transactions are
    all frauds for weeks (handbook §1), so a known run of frauds says the compromise is on;
  - `terminal_known_fraud_streak_days`: days from the first fraud of that run to t (0 without a run); the
    compromise lasts a fixed time, so this says how long it may still last.
- card, the protocol's convention (whole days): on day D, labels of days up to D - d - 1 are known (the rule
  that removes known compromised cards from the test days, handbook §3), so nothing here is newer than what the
  assessment already treats as known;
  - `card_known_frauds_{n}day_window`: the card's frauds on days D - d - n ... D - d - 1;
  - `card_flagged`: 1 if the card has a known fraud in the longest window ("card already flagged").
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from pyspark.sql import DataFrame, types as T

from features.windows import SECONDS_PER_DAY, _RANK_SHIFT, _apply_by_key, _prefix, _rows_up_to, _sort_keys, _unsort


def terminal_delayed_names(windows_days: Sequence[int]) -> list[str]:
    return [*(f"terminal_known_frauds_{n}day_window" for n in windows_days),
            "terminal_known_fraud_streak", "terminal_known_fraud_streak_days"]


def card_delayed_names(windows_days: Sequence[int]) -> list[str]:
    return [*(f"card_known_frauds_{n}day_window" for n in windows_days), "card_flagged"]


def terminal_delayed_risk(keys: np.ndarray, seconds: np.ndarray, frauds: np.ndarray, windows_days: Sequence[int],
                          delay_days: int) -> dict[str, np.ndarray]:
    order, composite = _sort_keys(keys, seconds)
    fraud = frauds[order].astype(np.int64)
    counts = _prefix(fraud)
    upper = _rows_up_to(composite, delay_days * SECONDS_PER_DAY)
    out = {}
    for n in windows_days:
        lower = _rows_up_to(composite, (delay_days + n) * SECONDS_PER_DAY)
        out[f"terminal_known_frauds_{n}day_window"] = _unsort(order, (counts[upper] - counts[lower]).astype(np.int32))
    # a run of frauds starts at a fraud whose previous row is genuine or of another key
    positions = np.arange(len(fraud))
    key_rank = composite >> _RANK_SHIFT
    starts_run = (fraud == 1) & np.concatenate(([True], (fraud[:-1] == 0) | (key_rank[1:] != key_rank[:-1])))
    run_start = np.maximum.accumulate(np.where(starts_run, positions, -1)) if len(fraud) else positions
    last = np.maximum(upper - 1, 0)
    on_run = (upper > lower) & (fraud[last] == 1)  # `lower` of the longest window (windows_days is sorted)
    first = np.maximum(run_start[last], lower)
    sorted_seconds = seconds[order]
    streak = np.where(on_run, last - first + 1, 0)
    streak_days = np.where(on_run, (sorted_seconds - sorted_seconds[np.minimum(first, len(fraud) - 1)])
                           / SECONDS_PER_DAY, 0.0)
    out["terminal_known_fraud_streak"] = _unsort(order, streak.astype(np.int32))
    out["terminal_known_fraud_streak_days"] = _unsort(order, streak_days)
    return out


def card_delayed_risk(keys: np.ndarray, seconds: np.ndarray, frauds: np.ndarray, windows_days: Sequence[int],
                      delay_days: int) -> dict[str, np.ndarray]:
    days = np.floor_divide(seconds, SECONDS_PER_DAY) * SECONDS_PER_DAY
    order, composite = _sort_keys(keys, days)
    counts = _prefix(frauds[order].astype(np.int64))
    upper = _rows_up_to(composite, (delay_days + 1) * SECONDS_PER_DAY)
    out = {}
    for n in windows_days:
        lower = _rows_up_to(composite, (delay_days + 1 + n) * SECONDS_PER_DAY)
        known = counts[upper] - counts[lower]
        out[f"card_known_frauds_{n}day_window"] = _unsort(order, known.astype(np.int32))
    out["card_flagged"] = (out[f"card_known_frauds_{max(windows_days)}day_window"] > 0).astype(np.int32)
    return out


def with_delayed_risk(df: DataFrame, windows_days: Sequence[int] = (7, 30), delay_days: int = 7,
                      groups: int = 8) -> DataFrame:
    """Adds the terminal and card columns of the module docstring (two passes: by terminal, then by card)."""
    windows = tuple(sorted(windows_days))

    def fields(names):
        return [T.StructField(n, T.DoubleType() if n.endswith("_days") else T.IntegerType()) for n in names]

    by_terminal = _apply_by_key(df, "terminal_id", fields(terminal_delayed_names(windows)), groups,
                                lambda table, seconds: terminal_delayed_risk(
                                    table.column("terminal_id").to_numpy(), seconds,
                                    table.column("tx_fraud").to_numpy(), windows, delay_days))
    return _apply_by_key(by_terminal, "customer_id", fields(card_delayed_names(windows)), groups,
                         lambda table, seconds: card_delayed_risk(
                             table.column("customer_id").to_numpy(), seconds, table.column("tx_fraud").to_numpy(),
                             windows, delay_days))
