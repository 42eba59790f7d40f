"""Optional features of ingested shapes that carry more than our raw columns, switched on by config
(`features.distance`, `features.category_risk_windows_days`); pure transforms like the rest of `features`.

- `home_merchant_distance_km`: great-circle distance between the card holder's home (lat, long) and the
  merchant (merch_lat, merch_long), as in the Sparkov set; a card used far from home is a classic fraud signal.
- `category_risk_{n}day_window`: the share of frauds among the transactions of the same merchant category over
  (t - (d + n) days, t - d days], the terminal risk's delayed window, so only labels at least d days old count.
- `cardholder_age_years`: the card holder's age in whole years on the transaction's date (UTC) from the date of
  birth (Sparkov's `dob`), computed on integers rather than `months_between` (a fraction of 31-day months): the
  age rises on the birthday itself; a 29 February birthday counts from 1 March in other years.
"""
from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, functions as F, types as T

from features.windows import _apply_by_key, terminal_windows

EARTH_RADIUS_KM = 6_371.0088  # mean Earth radius (IUGG)
_CATEGORY_KEY = "_category_key"
# a transaction without a category is risk-scored with the other uncategorised ones rather than dropped
UNKNOWN_CATEGORY = ""


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in km between two points in degrees (null if any input is null)."""
    phi1, phi2 = F.radians(lat1), F.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, F.radians(lon2) - F.radians(lon1)
    a = F.pow(F.sin(d_phi / 2), 2) + F.cos(phi1) * F.cos(phi2) * F.pow(F.sin(d_lambda / 2), 2)
    root = F.sqrt(a)
    # rounding can push sqrt(a) just above 1 for antipodal points; `least` would also turn a null into 1
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.when(root > 1.0, F.lit(1.0)).otherwise(root))


def with_home_merchant_distance(df: DataFrame, home: tuple[str, str] = ("lat", "long"),
                                merchant: tuple[str, str] = ("merch_lat", "merch_long")) -> DataFrame:
    distance = haversine_km(F.col(home[0]), F.col(home[1]), F.col(merchant[0]), F.col(merchant[1]))
    return df.select("*", distance.alias("home_merchant_distance_km"))


AGE = "cardholder_age_years"


def age_in_years(birth: Column, on: Column) -> Column:
    """Whole years from the date `birth` to the date `on` (null if either is null)."""
    before_birthday = (F.month(on) < F.month(birth)) | (
        (F.month(on) == F.month(birth)) & (F.dayofmonth(on) < F.dayofmonth(birth)))
    return F.year(on) - F.year(birth) - F.when(before_birthday, 1).otherwise(0)


def with_cardholder_age(df: DataFrame, birth: str = "dob") -> DataFrame:
    """Adds cardholder_age_years (a double, like the other model inputs) at each transaction's UTC date."""
    age = age_in_years(F.col(birth), F.to_date("tx_datetime")).cast(T.DoubleType())
    return df.select("*", age.alias(AGE))


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
