"""Terminal behaviour without labels (issue 9), switched on by `features.terminal_activity_windows_days`.

No label is read, so no delay is needed: the windows are the card windows of handbook §2 applied to the
terminal, (t - n days, t] with the current transaction included.

- `terminal_live_nb_tx_{n}day_window`: the terminal's transactions in the window (>= 1);
- `terminal_live_avg_amount_{n}day_window`: their mean amount (exact integer sums, as the card windows).
"""
from __future__ import annotations

from typing import Sequence

from pyspark.sql import DataFrame, types as T

from features.windows import _apply_by_key, customer_windows


def terminal_activity_names(windows_days: Sequence[int]) -> list[str]:
    return [name for n in windows_days for name in (f"terminal_live_nb_tx_{n}day_window",
                                                     f"terminal_live_avg_amount_{n}day_window")]


def with_terminal_activity(df: DataFrame, windows_days: Sequence[int] = (1, 7, 30), groups: int = 8) -> DataFrame:
    """Adds the columns of `terminal_activity_names(windows_days)`."""
    fields = [T.StructField(name, T.IntegerType() if "_nb_tx_" in name else T.DoubleType())
              for name in terminal_activity_names(windows_days)]

    def compute(table, seconds):
        windows = customer_windows(table.column("terminal_id").to_numpy(), seconds,
                                   table.column("tx_amount").to_numpy(), windows_days)
        return {name.replace("customer_id_", "terminal_live_"): values for name, values in windows.items()}

    return _apply_by_key(df, "terminal_id", fields, groups, compute)
