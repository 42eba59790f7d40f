"""Acceptance of issue 9 ("beat the book"): an ablation of the feature families and the anomaly signals on the
prequential test folds, and a search of class weight and GBT settings on the validation folds.

    .venv/bin/python bench/ablation.py --features /tmp/full/features --output /tmp/ablation [--search]
        [--rows book,card_behaviour,...] [--set section.key=value ...]

The features table must hold every family (build it with `bench/ablation.py --print-build-args` appended to
`fraud build-features`). Rows (each: AUC ROC / AP / CP@100, mean ± std over the 4 test folds):
- GBT rows, all with one fixed setting (`FIXED`: 100 trees, depth 3, step 0.3, class weight 2, the config's
  maxBins): the book's 15 inputs, the book's plus each family, all together, and all plus the anomaly signals;
- anomaly signals alone as the score: k-means distance, isolation forest, the card's robust z-score (and the
  plain z-score), each fitted on the fold's training block only.
With --search, every (class weight, setting) of `SEARCH` is fitted on the 4 validation folds with all the
families; the best validation AP wins and is then assessed on the test folds. Each row and setting is an MLflow
run (experiment `fraud-ablation`); results accumulate in OUTPUT/results.json (a row already there is skipped).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mlflow  # noqa: E402
from pyspark import StorageLevel  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from conf import ANOMALY_INPUTS, MODEL_INPUTS, FeaturesConf, load_config  # noqa: E402
from features.families import family_names  # noqa: E402
from jobs.common import build_session, configure_logging, log  # noqa: E402
from jobs.train import block_counter, date_counts, read_inputs  # noqa: E402
from models import anomaly, tracking  # noqa: E402
from models.folds import TEST, VALIDATION  # noqa: E402
from models.pipeline import GBT_DEFAULTS  # noqa: E402
from models.report import BOOK_RESULTS  # noqa: E402
from models.training import (KEYS, METRICS, FoldData, fold_metrics, prediction_path, prepare_folds,  # noqa: E402
                             run_grid, summarize, use_checkpoints)

# every family on, as the features table for the ablation is built
FAMILIES = FeaturesConf(card_behaviour_windows_days=(7, 30), robust_zscore_days=30, large_amounts_days=7,
                        terminal_activity_windows_days=(1, 7, 30), novelty_days=30, delayed_risk_windows_days=(7, 30))
BUILD_ARGS = ("--set features.card_behaviour_windows_days=[7,30] --set features.robust_zscore_days=30 "
              "--set features.large_amounts_days=7 "
              "--set features.terminal_activity_windows_days=[1,7,30] --set features.novelty_days=30 "
              "--set features.delayed_risk_windows_days=[7,30]")
FIXED = {"maxIter": 100, "maxDepth": 3, "stepSize": 0.3}
FIXED_CLASS_WEIGHT = "2"
# the search: class weights x trees at depth 3, step 0.3 (50 and 100 trees share one fit: the first 50 trees of a
# 100-tree fit are the 50-tree fit); `--deeper` adds depth 5 at the best weight. A 100-tree fit of a week with
# every family took 3-4 minutes on this shared 2-core machine, so the search is kept to 12 fits (+4 deeper)
SEARCH_CLASS_WEIGHTS = ("1", "2", "5")
SEARCH = {"maxIter": (50, 100), "maxDepth": (3,), "stepSize": (0.3,)}
SEARCH_DEEPER = {"maxIter": (50, 100), "maxDepth": (5,), "stepSize": (0.3,)}
KMEANS_K, ISOLATION_SAMPLE, SEED = 8, 20_000, 42
ANOMALY_FEATURES = (anomaly.KMEANS_DISTANCE, anomaly.ISOLATION_SCORE)


def gbt_rows() -> dict[str, tuple[str, ...]]:
    names = family_names(FAMILIES)
    rows = {"book (15 inputs)": MODEL_INPUTS}
    for family in ("card_behaviour", "terminal_activity", "novelty", "delayed_risk"):
        rows[f"book + {family}"] = (*MODEL_INPUTS, *names[family])
    rows["book + robust z-score and large amounts"] = (*MODEL_INPUTS, *names["robust_zscore"], *names["large_amounts"])
    everything = tuple(dict.fromkeys(n for family in names.values() for n in family))
    rows["book + all families"] = (*MODEL_INPUTS, *everything)
    rows["book + all families + anomaly signals"] = (*MODEL_INPUTS, *everything, *ANOMALY_FEATURES)
    return rows


ANOMALY_ALONE = {"alone: k-means distance": anomaly.KMEANS_DISTANCE,
                 "alone: isolation forest": anomaly.ISOLATION_SCORE,
                 "alone: card robust z-score (30 days)": "card_amount_robust_z_30day_window",
                 "alone: card z-score (30 days)": "card_amount_zscore_30day_window"}


def with_anomaly_signals(folds: list[FoldData]) -> list[FoldData]:
    """Each fold with k-means distance and isolation-forest score, both fitted on that fold's training rows."""
    out = []
    for data in folds:
        kmeans = anomaly.fit_kmeans(data.train, ANOMALY_INPUTS, KMEANS_K, SEED)
        forest = anomaly.fit_isolation_forest(data.train, ANOMALY_INPUTS, ISOLATION_SAMPLE, SEED)

        def signals(df):
            return anomaly.with_isolation_score(anomaly.with_kmeans_distance(df, kmeans), forest, ANOMALY_INPUTS)

        out.append(FoldData(data.fold, signals(data.train).persist(StorageLevel.MEMORY_AND_DISK),
                            signals(data.test).persist(StorageLevel.MEMORY_AND_DISK), data.fraud_weight))
    return out


def measure(spark, config, root: str, kind: str) -> dict:
    return summarize(fold_metrics(spark, root, kind, config.protocol, config.model.label))


def log_row(name: str, params: dict, metrics: dict, seconds: float, extra: dict) -> None:
    with mlflow.start_run(run_name=name):
        mlflow.log_params({"row": name, **params, **extra})
        tracking.log_fold_metrics("test", metrics)
        mlflow.log_metric("seconds", seconds)


def run_rows(spark, config, rows, all_folds, counts, output: Path, wanted: set[str] | None, results: dict) -> None:
    all_inputs = tuple(dict.fromkeys(n for inputs in gbt_rows().values() for n in inputs if n not in ANOMALY_FEATURES))
    model = dataclasses.replace(config.model, features=all_inputs, class_weight=FIXED_CLASS_WEIGHT)
    test_folds = prepare_folds(rows, [f for f in all_folds if f.kind == TEST], model,
                               block_counter(counts))
    with_signals = None
    params = {**GBT_DEFAULTS, **config.model.gbt, **FIXED}
    for name, inputs in gbt_rows().items():
        if name in results or (wanted and name not in wanted):
            continue
        if set(inputs) & set(ANOMALY_FEATURES):
            with_signals = with_signals or with_anomaly_signals(test_folds)
        started = time.perf_counter()
        row_model = dataclasses.replace(model, features=inputs)
        root = str(output / "scores" / slug(name))
        run_grid({0: params}, with_signals if set(inputs) & set(ANOMALY_FEATURES) else test_folds, row_model, root)
        metrics = measure(spark, config, root, TEST)[0]
        results[name] = record(metrics, time.perf_counter() - started, len(inputs))
        log_row(name, params, metrics, results[name]["seconds"], {"class_weight": FIXED_CLASS_WEIGHT,
                                                                  "features": ",".join(inputs)})
        save(output, results)
    for name, signal in ANOMALY_ALONE.items():
        if name in results or (wanted and name not in wanted):
            continue
        started = time.perf_counter()
        folds = test_folds if signal not in ANOMALY_FEATURES else (with_signals or with_anomaly_signals(test_folds))
        with_signals = folds if signal in ANOMALY_FEATURES else with_signals
        root = str(output / "scores" / slug(name))
        for data in folds:
            data.test.select(*KEYS, config.model.label, F.col(signal).cast("double").alias("score")).write.mode(
                "overwrite").parquet(prediction_path(root, TEST, 0, data.fold.index))
        metrics = measure(spark, config, root, TEST)[0]
        results[name] = record(metrics, time.perf_counter() - started, 1)
        log_row(name, {"signal": signal}, metrics, results[name]["seconds"], {})
        save(output, results)


def run_search(spark, config, rows, all_folds, counts, output: Path, results: dict, deeper: bool) -> None:
    """Class weight x SEARCH on the validation folds with every family; the best validation AP is assessed."""
    inputs = gbt_rows()["book + all families"]
    search = results.setdefault("search", {})
    fixed = {**GBT_DEFAULTS, **config.model.gbt}

    def best_weight():
        return max(SEARCH_CLASS_WEIGHTS, key=lambda w: max(v["average_precision"]["mean"] for v in search[w].values()))

    stages = [(w, w, SEARCH) for w in SEARCH_CLASS_WEIGHTS] + ([("deeper", None, SEARCH_DEEPER)] if deeper else [])
    for stage, weight, grid in stages:
        if stage in search:
            continue
        weight = weight or best_weight()
        settings = [dict(zip(grid, values), **fixed) for values in _product(grid)]
        model = dataclasses.replace(config.model, features=inputs, class_weight=weight)
        folds = prepare_folds(rows, [f for f in all_folds if f.kind == VALIDATION], model,
                              block_counter(counts))
        root = str(output / "search" / f"stage={stage}")
        started = time.perf_counter()
        run_grid(dict(enumerate(settings)), folds, model, root)
        summary = measure(spark, config, root, VALIDATION)
        search[stage] = {str(s): {"params": settings[s], "class_weight": weight,
                                  **{m: summary[s][m] for m in METRICS}} for s in summary}
        for s in summary:
            with mlflow.start_run(run_name=f"search weight={weight} setting={s}"):
                mlflow.log_params({**settings[s], "class_weight": weight, "features": ",".join(inputs)})
                tracking.log_fold_metrics("validation", summary[s])
        for data in folds:
            data.train.unpersist()
            data.test.unpersist()
        log.info("search stage=%s weight=%s seconds=%.1f", stage, weight, time.perf_counter() - started)
        save(output, results)
    stage, setting = max(((w, s) for w in search for s in search[w]),
                         key=lambda ws: search[ws[0]][ws[1]]["average_precision"]["mean"])
    chosen = search[stage][setting]
    weight = chosen["class_weight"]
    name = "chosen on validation: book + all families"
    same_as_fixed = weight == FIXED_CLASS_WEIGHT and chosen["params"] == {**fixed, **FIXED}
    if name not in results and same_as_fixed and "book + all families" in results:
        results[name] = {**results["book + all families"], "class_weight": weight, "params": chosen["params"],
                         "validation": {m: {k: chosen[m][k] for k in ("mean", "std")} for m in METRICS}}
        save(output, results)
    if name not in results:
        model = dataclasses.replace(config.model, features=inputs, class_weight=weight)
        folds = prepare_folds(rows, [f for f in all_folds if f.kind == TEST], model, block_counter(counts))
        root = str(output / "scores" / slug(name))
        started = time.perf_counter()
        run_grid({0: chosen["params"]}, folds, model, root)
        metrics = measure(spark, config, root, TEST)[0]
        results[name] = record(metrics, time.perf_counter() - started, len(inputs))
        results[name].update(class_weight=weight, params=chosen["params"],
                             validation={m: {k: chosen[m][k] for k in ("mean", "std")} for m in METRICS})
        log_row(name, chosen["params"], metrics, results[name]["seconds"], {"class_weight": weight})
        save(output, results)


def _product(grid: dict) -> list[tuple]:
    import itertools
    return list(itertools.product(*grid.values()))


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def record(metrics: dict, seconds: float, inputs: int) -> dict:
    return {**{m: {k: metrics[m][k] for k in ("mean", "std", "folds")} for m in METRICS},
            "seconds": round(seconds, 1), "inputs": inputs}


def save(output: Path, results: dict) -> None:
    (output / "results.json").write_text(json.dumps(results, indent=2, default=str))


def table(results: dict) -> str:
    def cell(stats):
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
    lines = ["| row | inputs | AUC ROC | AP | CP@100 | seconds |", "|---|---|---|---|---|---|"]
    for name, row in results.items():
        if name == "search":
            continue
        lines.append(f"| {name} | {row['inputs']} | {cell(row['auc_roc'])} | {cell(row['average_precision'])} | "
                     f"{cell(row['card_precision_at_k'])} | {row['seconds']} |")
    for name, values in BOOK_RESULTS:
        lines.append(f"| {name} | 15 | {values[0]:.3f} | {values[1]:.3f} | {values[2]:.3f} | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="/tmp/full/features")
    parser.add_argument("--output", default="/tmp/ablation")
    parser.add_argument("--rows", help="comma-separated row names to run (default: all)")
    parser.add_argument("--search", action="store_true", help="also search class weight and settings")
    parser.add_argument("--deeper", action="store_true", help="with --search: also depth 5 at the best weight")
    parser.add_argument("--print-build-args", action="store_true")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    if args.print_build_args:
        print(BUILD_ARGS)
        return 0
    output = Path(args.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    config = load_config(None, ["tracking.experiment=fraud-ablation", *args.overrides])
    configure_logging()
    spark = build_session(config)
    use_checkpoints(spark, config.model, str(output))
    results = json.loads((output / "results.json").read_text()) if (output / "results.json").exists() else {}
    everything = tuple(dict.fromkeys(n for inputs in gbt_rows().values() for n in inputs if n not in ANOMALY_FEATURES))
    read_config = dataclasses.replace(config, model=dataclasses.replace(config.model, features=everything))
    rows, folds = read_inputs(spark, read_config, args.features, None)
    counts = date_counts(rows, read_config, args.features)
    tracking.use_experiment(config.tracking, config.aws.endpoint_url)
    run_rows(spark, config, rows, folds, counts, output, set(args.rows.split(",")) if args.rows else None, results)
    if args.search:
        run_search(spark, config, rows, folds, counts, output, results, args.deeper)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
