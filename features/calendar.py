"""Calendar flags of a transaction instant, in the session time zone (UTC in every job)."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions as F

SUNDAY, SATURDAY = 1, 7  # Spark's dayofweek: 1 = Sunday ... 7 = Saturday


def is_weekend(instant: Column) -> Column:
    return F.dayofweek(instant).isin(SUNDAY, SATURDAY)


def is_night(instant: Column, last_night_hour: int = 6) -> Column:
    """00:00:00 up to and including the whole hour `last_night_hour` (06:59:59 by default)."""
    return F.hour(instant) <= last_night_hour


def with_calendar_flags(df: DataFrame, instant: str = "tx_datetime", last_night_hour: int = 6) -> DataFrame:
    return df.select(
        "*",
        is_weekend(F.col(instant)).cast("int").alias("tx_during_weekend"),
        is_night(F.col(instant), last_night_hour).cast("int").alias("tx_during_night"),
    )
