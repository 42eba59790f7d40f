"""An independent implementation of the handbook's windowed features with Spark's own range frames (handbook
§6), slow but direct: the oracle the vectorised transforms are checked against."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window as W, functions as F

DAY = 86_400


def reference_features(df: DataFrame, windows=(1, 7, 30), delay: int = 7) -> DataFrame:
    ts = F.col("tx_datetime").cast("long")
    by_card = W.partitionBy("customer_id").orderBy(ts)
    by_terminal = W.partitionBy("terminal_id").orderBy(ts)
    columns = []
    for n in windows:
        frame = by_card.rangeBetween(-(n * DAY - 1), 0)
        columns += [F.count(F.lit(1)).over(frame).cast("int").alias(f"customer_id_nb_tx_{n}day_window"),
                    F.avg("tx_amount").over(frame).alias(f"customer_id_avg_amount_{n}day_window")]
    for n in windows:
        frame = by_terminal.rangeBetween(-((delay + n) * DAY - 1), -delay * DAY)
        count = F.count(F.lit(1)).over(frame)
        frauds = F.coalesce(F.sum("tx_fraud").over(frame), F.lit(0))
        columns += [count.cast("int").alias(f"terminal_id_nb_tx_{n}day_window"),
                    F.when(count > 0, frauds / count).otherwise(0.0).alias(f"terminal_id_risk_{n}day_window")]
    return df.select("transaction_id", *columns)
