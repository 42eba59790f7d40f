"""Monitoring of a scored day: its drift against the training reference and, once its labels are mature, how well
the model ranked it. Pure functions of small per-day aggregates; the job (`jobs/monitor.py`) computes those in
Spark and writes the `monitoring` table.

A day is `degraded` when any measure breaches its threshold (config `monitoring.*`); `breaches` names each one,
e.g. `psi(tx_amount)=0.31>0.1`.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

from pyspark.sql import types as T

from conf import MonitoringConf
from models import reference

OK, DEGRADED = "ok", "degraded"

SCHEMA = T.StructType([
    T.StructField("tx_date", T.DateType(), False),
    T.StructField("model_version", T.StringType()),
    T.StructField("mlflow_run_id", T.StringType()),
    T.StructField("rows", T.LongType(), False),
    T.StructField("reference_rows_per_day", T.DoubleType()),
    T.StructField("volume_ratio", T.DoubleType()),
    T.StructField("alerted_cards", T.LongType()),
    T.StructField("mean_score", T.DoubleType()),
    T.StructField("score_psi", T.DoubleType()),
    T.StructField("score_ks", T.DoubleType()),
    T.StructField("max_feature_psi", T.DoubleType()),
    T.StructField("max_psi_feature", T.StringType()),
    T.StructField("max_feature_ks", T.DoubleType()),
    T.StructField("max_ks_feature", T.StringType()),
    T.StructField("feature_psi", T.MapType(T.StringType(), T.DoubleType())),
    T.StructField("feature_ks", T.MapType(T.StringType(), T.DoubleType())),
    T.StructField("gx_success", T.BooleanType()),
    T.StructField("gx_failures", T.ArrayType(T.StringType())),
    T.StructField("labels_mature", T.BooleanType(), False),
    T.StructField("frauds", T.LongType()),
    T.StructField("auc_roc", T.DoubleType()),
    T.StructField("average_precision", T.DoubleType()),
    T.StructField("card_precision_at_k", T.DoubleType()),
    T.StructField("status", T.StringType(), False),
    T.StructField("breaches", T.ArrayType(T.StringType()), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("monitored_at", T.TimestampType(), False),
])


def drift(day: dict, profile: dict, features: Sequence[str]) -> dict:
    """PSI and KS of each feature and of the score for one day of `reference.daily_shares`."""
    def measure(column: str) -> tuple[float, float]:
        ref = profile["columns"][column]["cumulative"]
        return reference.psi(ref, day["shares"][column]), reference.ks(ref, day["shares"][column])

    per_feature = {c: measure(c) for c in features}
    score_psi, score_ks = measure(reference.SCORE)
    worst_psi = max(per_feature, key=lambda c: per_feature[c][0])
    worst_ks = max(per_feature, key=lambda c: per_feature[c][1])
    return {
        "rows": day["rows"], "reference_rows_per_day": profile["rows_per_day"],
        "volume_ratio": day["rows"] / profile["rows_per_day"], "mean_score": day["means"][reference.SCORE],
        "score_psi": score_psi, "score_ks": score_ks,
        "max_feature_psi": per_feature[worst_psi][0], "max_psi_feature": worst_psi,
        "max_feature_ks": per_feature[worst_ks][1], "max_ks_feature": worst_ks,
        "feature_psi": {c: v[0] for c, v in per_feature.items()},
        "feature_ks": {c: v[1] for c, v in per_feature.items()},
    }


def breaches(row: dict, limits: MonitoringConf) -> list[str]:
    """The thresholds a day's row breaks, each as `measure(column)=value>limit`."""
    found = []
    for measure, values in (("psi", row["feature_psi"]), ("ks", row["feature_ks"])):
        limit = limits.psi_threshold if measure == "psi" else limits.ks_threshold
        found += [f"{measure}({c})={v:.3f}>{limit}" for c, v in sorted(values.items()) if v > limit]
    for measure, limit in (("score_psi", limits.psi_threshold), ("score_ks", limits.ks_threshold)):
        if row[measure] > limit:
            found.append(f"{measure}={row[measure]:.3f}>{limit}")
    low, high = limits.volume_ratio_bounds
    if not low <= row["volume_ratio"] <= high:
        found.append(f"volume_ratio={row['volume_ratio']:.3f} outside [{low}, {high}]")
    if row.get("gx_success") is False:
        found.append("gx: " + "; ".join(row["gx_failures"]))
    floor, ap = limits.min_average_precision, row.get("average_precision")
    if floor is not None and row["labels_mature"] and ap is not None and ap < floor:
        found.append(f"average_precision={ap:.3f}<{floor}")
    return found


def labels_mature_on(day: dt.date, delay_days: int) -> dt.date:
    """The first date on which `day`'s labels are known: `delay_days` later (handbook §3's delay)."""
    return day + dt.timedelta(days=delay_days)


def mature_dates(dates: Sequence[dt.date], as_of: dt.date, delay_days: int) -> list[dt.date]:
    """Dates whose labels are known on `as_of`."""
    return [d for d in dates if labels_mature_on(d, delay_days) <= as_of]
