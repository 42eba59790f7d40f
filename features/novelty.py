"""Card-terminal novelty (issue 9), switched on by `features.novelty_days` (0: off).

Over the card's earlier transactions in (t - n days, t) (a row exactly n days earlier is out; the current row and
same-second peers never count):
- `card_terminal_new_{n}day_window`: 1 if the card made no earlier transaction at this terminal in the window;
- `card_terminal_spend_share_{n}day_window`: the share of the card's earlier spend in the window made at this
  terminal (0 for a new terminal or a card without earlier spend).
"""
from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame, types as T

from features.windows import SECONDS_PER_DAY, AMOUNT_SCALE, _apply_by_key, _prefix, _rows_up_to, _sort_keys, _unsort


def novelty_names(days: int) -> list[str]:
    return [f"card_terminal_new_{days}day_window", f"card_terminal_spend_share_{days}day_window"]


def _pair_ids(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One integer per distinct (first, second) pair."""
    order = np.lexsort((second, first))
    changed = np.ones(len(order), dtype=bool)
    changed[1:] = (first[order][1:] != first[order][:-1]) | (second[order][1:] != second[order][:-1])
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(changed) - 1
    return ids


def _earlier_sums(keys: np.ndarray, seconds: np.ndarray, amounts: np.ndarray, days: int):
    """(earlier rows, earlier amount sum in thousandths) of each row's key over (t - days, t), in input order."""
    order, composite = _sort_keys(keys, seconds)
    sums = _prefix(amounts[order])
    before, lower = _rows_up_to(composite, 1), _rows_up_to(composite, days * SECONDS_PER_DAY)
    return _unsort(order, before - lower), _unsort(order, sums[before] - sums[lower])


def novelty(cards: np.ndarray, terminals: np.ndarray, seconds: np.ndarray, amounts: np.ndarray,
            days: int) -> dict[str, np.ndarray]:
    scaled = np.rint(amounts * AMOUNT_SCALE).astype(np.int64)
    pair_rows, pair_spend = _earlier_sums(_pair_ids(cards, terminals), seconds, scaled, days)
    _, card_spend = _earlier_sums(cards, seconds, scaled, days)
    share = np.divide(pair_spend, card_spend, out=np.zeros(len(cards)), where=card_spend > 0)
    return {f"card_terminal_new_{days}day_window": (pair_rows == 0).astype(np.int32),
            f"card_terminal_spend_share_{days}day_window": share}


def with_card_terminal_novelty(df: DataFrame, days: int = 30, groups: int = 8) -> DataFrame:
    """Adds the columns of `novelty_names(days)`; partitions by card, so a card's pairs are together."""
    new, share = novelty_names(days)
    fields = [T.StructField(new, T.IntegerType()), T.StructField(share, T.DoubleType())]
    return _apply_by_key(df, "customer_id", fields, groups, lambda table, seconds: novelty(
        table.column("customer_id").to_numpy(), table.column("terminal_id").to_numpy(), seconds,
        table.column("tx_amount").to_numpy(), days))
