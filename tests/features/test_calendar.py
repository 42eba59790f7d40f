"""Weekend and night flags at their edges, in UTC."""
from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import types as T

from features import with_calendar_flags

SCHEMA = T.StructType([T.StructField("transaction_id", T.LongType()), T.StructField("tx_datetime", T.TimestampType())])
FLAGS = T.StructType([*SCHEMA.fields, T.StructField("tx_during_weekend", T.IntegerType()),
                      T.StructField("tx_during_night", T.IntegerType())])


def test_weekend_and_night_edges(spark):
    rows = [
        (1, dt.datetime(2018, 4, 6, 23, 59, 59, tzinfo=dt.timezone.utc)),   # Friday night, late: not night (hour 23)
        (2, dt.datetime(2018, 4, 7, 0, 0, 0, tzinfo=dt.timezone.utc)),      # Saturday midnight
        (3, dt.datetime(2018, 4, 8, 6, 59, 59, tzinfo=dt.timezone.utc)),    # Sunday, last second of hour 6
        (4, dt.datetime(2018, 4, 9, 7, 0, 0, tzinfo=dt.timezone.utc)),      # Monday 07:00
        (5, None),
    ]
    want = [(1, rows[0][1], 0, 0), (2, rows[1][1], 1, 1), (3, rows[2][1], 1, 1), (4, rows[3][1], 0, 0),
            (5, None, None, None)]
    got = spark.createDataFrame(rows, SCHEMA).transform(with_calendar_flags)
    assert_df_equality(got, spark.createDataFrame(want, FLAGS), ignore_nullable=True)
