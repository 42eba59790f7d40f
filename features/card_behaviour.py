"""Card behaviour: how a transaction compares with the card's own recent history (issue 9), switched on by
`features.card_behaviour_windows_days` (and `features.robust_zscore_days` for the robust z-score).

Windows are ranges of event-time seconds like the handbook's, over the card's *earlier* transactions: (t - n days,
t), so a row exactly n days earlier is out, one a second inside is in, and neither the current transaction nor a
same-second peer counts (which keeps every value independent of the order of same-second rows).

- `card_amount_zscore_{n}day_window`: (amount - mean) / max(std, `min_std`) of the earlier amounts in the window;
  0 without an earlier transaction. A compromised card's fraudulent amounts (x5, handbook §1) stand far out.
- `card_nb_terminals_{n}day_window`: distinct terminals over (t - n days, t], the current one included (>= 1).
- `card_seconds_since_previous`: seconds since the card's latest earlier transaction, capped at `gap_cap_days`
  (also the value of a card's first transaction), so that a daily run with a finite look-back gives the same
  value as a backfill; an int (the cap must stay under 24,855 days).
- `card_nb_tx_recent_window`: the card's transactions over (t - `recent_seconds`, t], the current one included.
- `card_amount_robust_z_{n}day_window`: (amount - median) / max(1.4826 MAD, `min_std`) of the last
  `robust_max_rows` earlier amounts in the window: the median and MAD ignore the inflated amounts of a
  compromise, where the mean and std do not. 0 without an earlier transaction.
- `card_large_amounts_{n}day_window` (`features.large_amounts_days`, needs the robust z-score): the card's earlier
  transactions over (t - n days, t) whose robust z-score is above `large_amount_robust_z`. A compromised card makes
  several inflated amounts within days (handbook §1, scenario 3), a genuine large amount is usually alone; no
  label is used.

Amount sums are exact integers (cents for squares, whose sums must stay inside int64), so a daily run and a
backfill agree.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from pyspark.sql import DataFrame, types as T

from features.windows import SECONDS_PER_DAY, _RANK_SHIFT, _apply_by_key, _prefix, _rows_up_to, _sort_keys, _unsort

CENTS = 100
MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation
_ROBUST_CHUNK = 50_000  # rows whose window matrix is built at once (rows x robust_max_rows floats)


def card_behaviour_names(windows_days: Sequence[int]) -> list[str]:
    return [*(f"card_amount_zscore_{n}day_window" for n in windows_days),
            *(f"card_nb_terminals_{n}day_window" for n in windows_days),
            "card_seconds_since_previous", "card_nb_tx_recent_window"]


def robust_zscore_name(days: int) -> str:
    return f"card_amount_robust_z_{days}day_window"


def large_amounts_name(days: int) -> str:
    return f"card_large_amounts_{days}day_window"


def _group_starts(composite: np.ndarray) -> np.ndarray:
    """For each sorted row, the position of the first row of its key."""
    key_floor = (composite >> _RANK_SHIFT) << _RANK_SHIFT
    return np.searchsorted(composite, key_floor, side="left")


def _previous_same(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """For each row of arrays sorted by (first, time), the position of the previous row with the same
    (first, second), or -1."""
    positions = np.arange(len(first))
    order = np.lexsort((positions, second, first))
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (first[order][1:] == first[order][:-1]) & (second[order][1:] == second[order][:-1])
    previous = np.full(len(order), -1, dtype=np.int64)
    previous[order[1:][same[1:]]] = order[:-1][same[1:]]
    return previous


def distinct_in_window(lower: np.ndarray, upper: np.ndarray, previous_same: np.ndarray) -> np.ndarray:
    """Distinct values among sorted rows [lower, upper) of each row: the rows there whose previous occurrence of
    the same value lies before `lower`. Vectorised over offsets into the window (windows are short)."""
    counts = np.zeros(len(lower), dtype=np.int32)
    active = np.nonzero(upper > lower)[0]
    offset = 0
    while active.size:
        rows = lower[active] + offset
        counts[active] += previous_same[rows] < lower[active]
        offset += 1
        active = active[upper[active] > lower[active] + offset]
    return counts


def card_behaviour(keys: np.ndarray, seconds: np.ndarray, amounts: np.ndarray, terminals: np.ndarray,
                   windows_days: Sequence[int], recent_seconds: int, min_std: float,
                   gap_cap_days: int) -> dict[str, np.ndarray]:
    order, composite = _sort_keys(keys, seconds)
    cents = np.rint(amounts[order] * CENTS).astype(np.int64)
    sums, squares = _prefix(cents), _prefix(cents * cents)
    upper = _rows_up_to(composite, 0)
    before = _rows_up_to(composite, 1)  # rows strictly earlier than this second
    previous_terminal = _previous_same(composite >> _RANK_SHIFT, terminals[order])
    out = {}
    for n in windows_days:
        lower = _rows_up_to(composite, n * SECONDS_PER_DAY)
        count = before - lower
        seen = np.maximum(count, 1)
        mean = (sums[before] - sums[lower]) / (seen * float(CENTS))
        variance = (squares[before] - squares[lower]) / (seen * float(CENTS * CENTS)) - mean * mean
        std = np.maximum(np.sqrt(np.maximum(variance, 0.0)), min_std)
        zscore = np.where(count > 0, (cents / float(CENTS) - mean) / std, 0.0)
        out[f"card_amount_zscore_{n}day_window"] = _unsort(order, zscore)
        out[f"card_nb_terminals_{n}day_window"] = _unsort(order, distinct_in_window(lower, upper, previous_terminal))
    starts = _group_starts(composite)
    sorted_seconds = seconds[order]
    cap = gap_cap_days * SECONDS_PER_DAY
    has_previous = before > starts
    gap = np.where(has_previous, sorted_seconds - sorted_seconds[np.maximum(before - 1, 0)], cap)
    out["card_seconds_since_previous"] = _unsort(order, np.minimum(gap, cap).astype(np.int32))
    out["card_nb_tx_recent_window"] = _unsort(order, (upper - _rows_up_to(composite, recent_seconds))
                                              .astype(np.int32))
    return {name: out[name] for name in card_behaviour_names(windows_days)}  # the schema's order


def _sorted_median(rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the first `counts[i]` values of each sorted row i."""
    index = np.arange(len(rows))
    return (rows[index, (counts - 1) // 2] + rows[index, counts // 2]) / 2


def robust_zscore(keys: np.ndarray, seconds: np.ndarray, amounts: np.ndarray, days: int, max_rows: int,
                  min_std: float) -> np.ndarray:
    order, composite = _sort_keys(keys, seconds)
    return _unsort(order, _sorted_robust_zscore(order, composite, amounts, days, max_rows, min_std))


def _sorted_robust_zscore(order: np.ndarray, composite: np.ndarray, amounts: np.ndarray, days: int, max_rows: int,
                          min_std: float) -> np.ndarray:
    """The robust z-scores of the rows in the order of `_sort_keys`."""
    values = np.rint(amounts[order] * CENTS) / CENTS
    before = _rows_up_to(composite, 1)
    first = np.maximum(_rows_up_to(composite, days * SECONDS_PER_DAY), before - max_rows)
    zscore = np.zeros(len(values))
    offsets = np.arange(max_rows)
    for start in range(0, len(values), _ROBUST_CHUNK):
        chunk = slice(start, start + _ROBUST_CHUNK)
        lo, hi = first[chunk], before[chunk]
        has_history = hi > lo
        lo, hi = lo[has_history], hi[has_history]
        positions = lo[:, None] + offsets[None, :]
        outside = positions >= hi[:, None]
        # rows end with +inf beyond their window, so after a sort the middle of the first `count` is the median
        window = np.where(outside, np.inf, values[np.minimum(positions, len(values) - 1)])
        median = _sorted_median(np.sort(window, axis=1), hi - lo)
        deviation = np.where(outside, np.inf, np.abs(window - median[:, None]))
        mad = _sorted_median(np.sort(deviation, axis=1), hi - lo)
        scale = np.maximum(MAD_TO_STD * mad, min_std)
        part = np.zeros(len(has_history))
        part[has_history] = (values[chunk][has_history] - median) / scale
        zscore[chunk] = part
    return zscore


def robust_zscore_and_large_amounts(keys: np.ndarray, seconds: np.ndarray, amounts: np.ndarray, robust_days: int,
                                    max_rows: int, min_std: float, days: int, threshold: float
                                    ) -> tuple[np.ndarray, np.ndarray]:
    """The robust z-scores and, for each row, the card's earlier rows over (t - days, t) whose robust z-score is
    above `threshold`, from one sort of the rows."""
    order, composite = _sort_keys(keys, seconds)
    robust_z = _sorted_robust_zscore(order, composite, amounts, robust_days, max_rows, min_std)
    counts = _prefix((robust_z > threshold).astype(np.int64))
    before, lower = _rows_up_to(composite, 1), _rows_up_to(composite, days * SECONDS_PER_DAY)
    return _unsort(order, robust_z), _unsort(order, (counts[before] - counts[lower]).astype(np.int32))


def with_card_behaviour(df: DataFrame, windows_days: Sequence[int] = (7, 30), recent_seconds: int = 3_600,
                        min_std: float = 1.0, gap_cap_days: int = 30, groups: int = 8) -> DataFrame:
    """Adds the columns of `card_behaviour_names(windows_days)` (see the module docstring)."""
    fields = [T.StructField(name, T.IntegerType() if "_nb_" in name or name.endswith("_previous") else T.DoubleType())
              for name in card_behaviour_names(windows_days)]
    return _apply_by_key(df, "customer_id", fields, groups, lambda table, seconds: card_behaviour(
        table.column("customer_id").to_numpy(), seconds, table.column("tx_amount").to_numpy(),
        table.column("terminal_id").to_numpy(), windows_days, recent_seconds, min_std, gap_cap_days))


def with_card_robust_zscore(df: DataFrame, days: int = 30, max_rows: int = 50, min_std: float = 1.0,
                            groups: int = 8) -> DataFrame:
    """Adds card_amount_robust_z_{days}day_window (see the module docstring)."""
    name = robust_zscore_name(days)
    return _apply_by_key(df, "customer_id", [T.StructField(name, T.DoubleType())], groups,
                         lambda table, seconds: {name: robust_zscore(
                             table.column("customer_id").to_numpy(), seconds, table.column("tx_amount").to_numpy(),
                             days, max_rows, min_std)})


def with_card_large_amounts(df: DataFrame, days: int = 7, threshold: float = 5.0, robust_days: int = 30,
                            max_rows: int = 50, min_std: float = 1.0, groups: int = 8) -> DataFrame:
    """Adds card_large_amounts_{days}day_window over the robust z-scores of `robust_days` (module docstring)."""
    name = large_amounts_name(days)

    def compute(table, seconds):
        _, counts = robust_zscore_and_large_amounts(
            table.column("customer_id").to_numpy(), seconds, table.column("tx_amount").to_numpy(), robust_days,
            max_rows, min_std, days, threshold)
        return {name: counts}

    return _apply_by_key(df, "customer_id", [T.StructField(name, T.IntegerType())], groups, compute)
