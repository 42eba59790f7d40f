"""Optional features of ingested shapes that carry more than our raw columns, switched on by config
(`features.distance`, `features.category_risk_windows_days`, `features.age`); pure transforms like the rest of
`features`.

- `category_risk_{n}day_window`: the share of frauds among the transactions of the same merchant category over
  (t - (d + n) days, t - d days], the terminal risk's delayed window, so only labels at least d days old count.
- `home_merchant_distance_km` and `cardholder_age_years` come from personal fields (the card holder's home, the
  date of birth) that no table may hold: the ingest job derives them (`ingest.sensitive`, mapping derivations
  `distance_km` and `age_years`) and the feature job passes them on as model inputs.
"""
from __future__ import annotations

from typing import Sequence

from pyspark.sql import DataFrame, functions as F, types as T

from features.windows import _apply_by_key, terminal_windows

_CATEGORY_KEY = "_category_key"
# a transaction without a category is risk-scored with the other uncategorised ones rather than dropped
UNKNOWN_CATEGORY = ""


DISTANCE = "home_merchant_distance_km"
AGE = "cardholder_age_years"


def category_risk_names(windows_days: Sequence[int]) -> list[str]:
    return [f"category_risk_{n}day_window" for n in windows_days]


def with_category_risk(df: DataFrame, column: str = "category", windows_days: Sequence[int] = (1, 7, 30),
                       delay_days: int = 7, groups: int = 8) -> DataFrame:
    """Adds category_risk_{n}day_window: frauds / transactions of the row's category in the delayed window
    (0 on an empty window), computed like the terminal risk."""
    keyed = df.select("*", F.xxhash64(F.coalesce(F.col(column), F.lit(UNKNOWN_CATEGORY))).alias(_CATEGORY_KEY))
    fields = [T.StructField(name, T.DoubleType()) for name in category_risk_names(windows_days)]
    return _apply_by_key(keyed, _CATEGORY_KEY, fields, groups, lambda table, seconds: terminal_windows(
        table.column(_CATEGORY_KEY).to_numpy(), seconds, table.column("tx_fraud").to_numpy(), windows_days,
        delay_days, prefix="category")).drop(_CATEGORY_KEY)
