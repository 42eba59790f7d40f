"""Prequential model selection and assessment: fit a setting on each fold's training block, score the fold's
test days, write the scores, and measure them all at once in Spark.

Settings that differ only in their number of trees share one fit (its first trees are exactly the smaller fit).
Fits run a few at a time in threads of the one Spark session (`model.parallelism`): one GBT fit on a week of
data is a long chain of small Spark jobs, so two fits keep two cores busier than one. Scores are written as
Parquet (`<root>/<kind>/setting=S/fold=F`) rather than kept in memory, so the metrics read them back in one
grouped pass and the cost of a grid grows with its size, not with the driver's memory.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession, functions as F

from conf import ModelConf, ProtocolConf
from models.folds import Fold, assessed_rows, training_rows
from models.metrics import ranking_metrics
from models.pipeline import (SCORE, TREES, build_pipeline, fraud_weight, grows_by_prefix, scores_by_trees,
                             tree_count, with_class_weight)

log = logging.getLogger("fraud")
METRICS = ("auc_roc", "average_precision", "card_precision_at_k")
KEYS = ("transaction_id", "customer_id", "tx_date")


@dataclasses.dataclass
class FoldData:
    fold: Fold
    train: DataFrame
    test: DataFrame
    fraud_weight: float | None


def prepare_folds(features: DataFrame, folds: list[Fold], model: ModelConf,
                  block_counts: Callable[[Fold], tuple[int, int]]) -> list[FoldData]:
    """Each fold's training and test rows, cached (every setting of the grid reads them).
    `block_counts(fold)` gives the training block's (rows, frauds), for class weights. Both are coalesced to a
    partition per `model.rows_per_fit_partition` training rows (the test days are fewer): a fit, a scoring pass and
    a write of a fold's scores are then a few tasks, not one a shuffle partition."""
    columns = [*dict.fromkeys([*KEYS, model.label, *model.features])]
    prepared = []
    for fold in folds:
        rows, frauds = block_counts(fold)
        partitions = max(1, math.ceil(rows / model.rows_per_fit_partition))
        train = training_rows(features, fold).select(*columns).coalesce(partitions)
        weight = fraud_weight(model.class_weight, frauds, rows)
        if weight is not None:
            train = with_class_weight(train, model.label, weight)
        test = None
        if fold.kind != "final":
            test = assessed_rows(features, fold, label=model.label).select(*columns).coalesce(partitions)
        prepared.append(FoldData(fold, train.persist(StorageLevel.MEMORY_AND_DISK),
                                 test.persist(StorageLevel.MEMORY_AND_DISK) if test is not None else None, weight))
    return prepared


def use_checkpoints(spark, model: ModelConf, output: str) -> str:
    """Give GBT fits a checkpoint folder (`model.checkpoint_dir`, else `OUTPUT/_checkpoints`): Spark checkpoints a
    fit's running predictions every `checkpointInterval` trees only when the context has one, and a lineage that
    grows with every tree overflows the stack after a few hundred trees. Returns the folder."""
    folder = model.checkpoint_dir or f"{output.rstrip('/')}/_checkpoints"
    spark.sparkContext.setCheckpointDir(folder)
    return folder


def fit(data: FoldData, model: ModelConf, params: dict[str, Any]) -> PipelineModel:
    pipeline = build_pipeline(list(model.features), model.label, params, model.scale,
                              weighted=data.fraud_weight is not None, learner=model.learner)
    return pipeline.fit(data.train)


def prediction_path(root: str, kind: str, setting: int, fold: int) -> str:
    return f"{root.rstrip('/')}/{kind}/setting={setting}/fold={fold}"


def fit_plans(settings: dict[int, dict[str, Any]],
              learner: str = "gbt") -> list[tuple[dict[str, Any], list[tuple[int, int]]]]:
    """[(params to fit, [(setting, trees to keep)])]: settings that differ only in their number of trees share one
    fit with the most trees when `grows_by_prefix` holds, and take its first trees; the others are fitted one by
    one."""
    plans: dict[str, list[tuple[int, dict]]] = {}
    trees_param = TREES[learner][0]
    for setting, params in settings.items():
        prefix = grows_by_prefix(params, learner)
        shared = {k: v for k, v in params.items() if k != trees_param} if prefix else params
        key = json.dumps(shared, sort_keys=True, default=str) + ("" if prefix else f"#{setting}")
        plans.setdefault(key, []).append((setting, params))
    fits = []
    for members in plans.values():
        longest = max((params for _, params in members), key=lambda p: tree_count(p, learner))
        fits.append((longest, [(s, tree_count(p, learner)) for s, p in members]))
    return sorted(fits, key=lambda plan: -tree_count(plan[0], learner))  # longest fits first


def fit_and_score(data: FoldData, model: ModelConf, params: dict[str, Any], targets: list[tuple[int, int]],
                  root: str) -> float:
    start = time.perf_counter()
    fitted = fit(data, model, params)
    counts = sorted({trees for _, trees in targets})
    scored = scores_by_trees(fitted, data.test, [*KEYS, model.label], counts)
    if len(targets) > 1:  # written once a setting from one scoring pass
        scored = scored.persist(StorageLevel.MEMORY_AND_DISK)
    for setting, trees in targets:
        scored.select(*KEYS, model.label, F.col(f"{SCORE}_{trees}").alias(SCORE)).write.mode("overwrite").parquet(
            prediction_path(root, data.fold.kind, setting, data.fold.index))
    scored.unpersist()
    seconds = time.perf_counter() - start
    log.info("fit: kind=%s fold=%d params=%s settings=%s seconds=%.1f", data.fold.kind, data.fold.index, params,
             [s for s, _ in targets], seconds)
    return seconds


def run_grid(settings: dict[int, dict[str, Any]], folds: list[FoldData], model: ModelConf, root: str) -> float:
    """Fit and score every (setting, fold); returns the summed fit seconds."""
    tasks = [(plan, data) for plan in fit_plans(settings, model.learner) for data in folds]
    with ThreadPoolExecutor(max_workers=max(1, model.parallelism)) as pool:
        seconds = list(pool.map(lambda task: fit_and_score(task[1], model, *task[0], root), tasks))
    return sum(seconds)


def fold_metrics(spark: SparkSession, root: str, kind: str, protocol: ProtocolConf, label: str) -> list[dict]:
    """One row per (setting, fold) with the three metrics, computed in Spark over all the kind's scores."""
    scored = spark.read.parquet(f"{root.rstrip('/')}/{kind}")
    table = ranking_metrics(scored, protocol.top_k, by=("setting", "fold"), label=label)
    return [row.asDict() for row in table.orderBy("setting", "fold").collect()]  # settings x folds rows


def summarize(rows: list[dict]) -> dict[int, dict[str, dict]]:
    """{setting: {metric: {mean, std, folds}}}; std is the sample std over folds (0 for a single fold)."""
    by_setting: dict[int, list[dict]] = {}
    for row in rows:
        by_setting.setdefault(row["setting"], []).append(row)
    summary = {}
    for setting, fold_rows in by_setting.items():
        fold_rows.sort(key=lambda r: r["fold"])
        summary[setting] = {}
        for metric in METRICS:
            values = [r[metric] for r in fold_rows]
            known = [v for v in values if v is not None]
            summary[setting][metric] = {
                "mean": statistics.fmean(known) if known else None,
                "std": statistics.stdev(known) if len(known) > 1 else 0.0,
                "folds": values,
            }
    return summary


def choose(summary: dict[int, dict[str, dict]], metric: str) -> int:
    """The setting with the best mean of `metric`; a tie goes to the earlier (smaller) setting of the grid."""
    return max(sorted(summary), key=lambda s: (summary[s][metric]["mean"] or float("-inf"), -s))
