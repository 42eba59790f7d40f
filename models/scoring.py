"""Scoring transforms: the fraud probability, a 0-1000 risk score, the outcome of each transaction, its reason codes,
and the investigators' daily queue of cards. Pure DataFrame -> DataFrame functions; the job reads and writes.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, Window as W, functions as F

from conf import ScoringConf
from models.anomaly import SIGNALS, Signals
from models.explain import with_reasons
from models.pipeline import fraud_probability
from models.tracking import ModelRef

DAY, CARD = "tx_date", "customer_id"


def card_ranks(scored: DataFrame) -> DataFrame:
    """(tx_date, customer_id, card_score, card_rank): each card's highest probability of the day, ranked within
    the day (ties by card id, so a re-run ranks the same way)."""
    by_score = (W.partitionBy(DAY).orderBy(F.col("card_score").desc(), F.col(CARD).asc())
                .rowsBetween(W.unboundedPreceding, W.currentRow))
    return (scored.groupBy(DAY, CARD).agg(F.max("fraud_probability").alias("card_score"))
            .select(DAY, CARD, "card_score", F.row_number().over(by_score).alias("card_rank")))


def with_outcome(scored: DataFrame, scoring: ScoringConf) -> DataFrame:
    """`investigate` for every transaction of the day's top `investigate_cards` cards, else `review` at or above
    the probability threshold, else `pass`."""
    queue = card_ranks(scored).where(F.col("card_rank") <= scoring.investigate_cards).select(
        DAY, CARD, F.lit(True).alias("_in_queue"))
    in_queue = F.coalesce(F.col("_in_queue"), F.lit(False))
    return scored.join(queue, on=[DAY, CARD], how="left").select(
        *scored.columns,
        F.when(in_queue, "investigate")
        .when(F.col("fraud_probability") >= scoring.review_threshold, "review")
        .otherwise("pass").alias("outcome"),
    )


def score_transactions(valid: DataFrame, model: PipelineModel, inputs: Sequence[str], ref: ModelRef,
                       scored_at: dt.datetime, scoring: ScoringConf, signals: Signals | None = None) -> DataFrame:
    """Valid feature rows -> the scored table's rows (see `expectations.contracts.scored_contract`); with
    `signals`, each row also gets the anomaly signals (`models.anomaly.SIGNALS`)."""
    with_signals = signals.apply(valid) if signals is not None else valid
    transformed = model.transform(with_signals).withColumn("fraud_probability", fraud_probability())
    explained = with_reasons(transformed, model, inputs, scoring.reasons)
    return explained.transform(with_outcome, scoring).select(
        *[c for c in valid.columns],
        "fraud_probability",
        F.round(F.col("fraud_probability") * 1000).cast("int").alias("risk_score"),
        "outcome",
        *(SIGNALS if signals is not None else ()),
        *[c for i in range(1, scoring.reasons + 1) for c in (f"reason_{i}", f"reason_{i}_contribution")],
        F.lit(ref.name).cast("string").alias("model_name"),
        F.lit(ref.version).cast("string").alias("model_version"),
        F.lit(ref.run_id).cast("string").alias("mlflow_run_id"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
    )


def alerts(scored: DataFrame, reasons: int) -> DataFrame:
    """The investigators' queue: one row per card sent to `investigate` that day, ranked by its highest score,
    with that day's transactions of the card and the reasons of its highest-scoring transaction."""
    by_score = (W.partitionBy(DAY).orderBy(F.col("max_probability").desc(), F.col(CARD).asc())
                .rowsBetween(W.unboundedPreceding, W.currentRow))
    top_reasons = [F.max_by(f"reason_{i}", "fraud_probability").alias(f"reason_{i}") for i in range(1, reasons + 1)]
    per_card = scored.where(F.col("outcome") == "investigate").groupBy(DAY, CARD).agg(
        F.max("fraud_probability").alias("max_probability"),
        F.max("risk_score").alias("max_risk_score"),
        F.count(F.lit(1)).alias("transactions"),
        F.round(F.sum("tx_amount"), 2).alias("total_amount"),
        F.sort_array(F.collect_list("transaction_id")).alias("transaction_ids"),
        *top_reasons,
        F.max("tx_fraud").alias("known_fraud"),  # null until labels arrive
        F.first("model_version").alias("model_version"),
    )
    return per_card.select(F.row_number().over(by_score).alias("alert_rank"), "*")
