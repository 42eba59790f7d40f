"""Learners and their settings at full size (issue 30): quality on the validation folds, seconds a fit, model size,
scoring time; and the pipeline's training stage for two configs back to back.

    .venv/bin/python bench/learners.py --features /tmp/full/features validation [--only NAME ...]
    .venv/bin/python bench/learners.py --features /tmp/full/features pipeline [--reference KEY=VALUE ...]
        [--candidate KEY=VALUE ...] [--reference-commit COMMIT]
    .venv/bin/python bench/learners.py whole-pipeline --reference-commit COMMIT [--candidate-commit COMMIT]
    .venv/bin/python bench/learners.py report

`validation`: every row of `VARIANTS` is fitted on the 4 validation folds, one fit at a time (`model.parallelism`
1, so seconds compare), and its scores measured as training measures them (AP, CP@100: mean over the folds). A fit's
seconds are the classifier's fit alone (and the vectors' preparation where a row caches them), not the scoring of
its test days. The first fold's model is saved, its size on disk taken, and it scores every row of the features
table (a `noop` write, best of two) for the seconds per million rows. Rows accumulate in OUT/results.json; a row
already there is skipped, so a killed run resumes.

`pipeline`: `jobs.train.run` with the pipeline's grid (`model.pipeline_grid`, what `fraud pipeline` trains with),
first with the `--reference` overrides of the config, then with the `--candidate` ones, back to back, each in a
process of its own with a fresh MLflow store: the training stage's seconds and its test-fold figures, side by side.
With `--reference-commit` the reference runs that commit's code and config (a temporary git worktree), e.g. the
training stage as it was before a change.

`whole-pipeline`: the README's first command's job, `fraud pipeline` (simulate, features, training, scoring,
monitoring at full size on the embedded defaults), run with the code and config of `--reference-commit`, then of
`--candidate-commit` (HEAD by default), each from a temporary git worktree in a folder of its own (its own data,
MLflow store, Spark session): the training stage as the issue measures it, inside the pipeline's one session
(whose JVM the simulation and the features have warmed), beside the whole command's seconds. `--features` is
not read: each run simulates its own data.

`report` prints the tables from OUT/results.json.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the code a `train-once` runs: this checkout, or (`pipeline --reference-commit`) a worktree of an earlier commit
CODE_VARIABLE = "FRAUD_BENCH_CODE"
sys.path.insert(0, os.environ.get(CODE_VARIABLE, str(ROOT)))

from pyspark import StorageLevel  # noqa: E402
from pyspark.ml import Pipeline, PipelineModel  # noqa: E402

from conf import load_config  # noqa: E402
from jobs import train  # noqa: E402
from jobs.common import build_session, configure_logging, log  # noqa: E402
from jobs.pipeline import with_pipeline_grid  # noqa: E402
from models.folds import VALIDATION  # noqa: E402
from models.pipeline import GBT_DEFAULTS, XGBOOST_DEFAULTS, build_pipeline, score  # noqa: E402
from models.training import (KEYS, FoldData, fold_metrics, prediction_path, prepare_folds,  # noqa: E402
                             summarize)

GBT = {**GBT_DEFAULTS, "maxIter": 100, "maxDepth": 3, "stepSize": 0.3}  # the pipeline grid's chosen setting
XGB = {**XGBOOST_DEFAULTS, "n_estimators": 100, "max_depth": 3, "learning_rate": 0.3}


@dataclasses.dataclass(frozen=True)
class Variant:
    learner: str
    params: dict[str, Any]
    partitions: int | None = None  # the training rows' partitions (None: model.rows_per_fit_partition's)
    cache_vectors: bool = False  # fit the assembler and scaler first, cache their vectors, then fit the classifier


VARIANTS: dict[str, Variant] = {
    "gbt as configured": Variant("gbt", GBT),
    "gbt, cached assembled vectors": Variant("gbt", GBT, cache_vectors=True),
    "gbt, cacheNodeIds": Variant("gbt", {**GBT, "cacheNodeIds": True}),
    "gbt, maxMemoryInMB 1024": Variant("gbt", {**GBT, "maxMemoryInMB": 1024}),
    "gbt, 2 partitions": Variant("gbt", GBT, partitions=2),
    "gbt, 4 partitions": Variant("gbt", GBT, partitions=4),
    "gbt, maxBins 256": Variant("gbt", {**GBT, "maxBins": 256}),
    "gbt, checkpointInterval -1": Variant("gbt", {**GBT, "checkpointInterval": -1}),
    "gbt, subsamplingRate 0.5": Variant("gbt", {**GBT, "subsamplingRate": 0.5}),
    "xgboost, 100 trees, depth 3, eta 0.3": Variant("xgboost", XGB),
    "xgboost, 100 trees, depth 3, eta 0.1": Variant("xgboost", {**XGB, "learning_rate": 0.1}),
    "xgboost, 200 trees, depth 3, eta 0.1": Variant("xgboost", {**XGB, "n_estimators": 200, "learning_rate": 0.1}),
    "xgboost, 300 trees, depth 3, eta 0.05": Variant("xgboost", {**XGB, "n_estimators": 300,
                                                                 "learning_rate": 0.05}),
    "xgboost, 100 trees, depth 5, eta 0.1": Variant("xgboost", {**XGB, "max_depth": 5, "learning_rate": 0.1}),
    "xgboost, 300 trees, depth 5, eta 0.1": Variant("xgboost", {**XGB, "n_estimators": 300, "max_depth": 5,
                                                                "learning_rate": 0.1}),
    "xgboost, 100 trees, depth 3, eta 0.1, max_bin 256": Variant("xgboost", {**XGB, "learning_rate": 0.1,
                                                                             "max_bin": 256}),
}


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def load(out: Path) -> dict:
    path = out / "results.json"
    return json.loads(path.read_text()) if path.exists() else {"validation": {}, "pipeline": []}


def save(out: Path, results: dict) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


def folder_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 2)


def fit_variant(data: FoldData, model, variant: Variant) -> tuple[PipelineModel, float]:
    """The fitted pipeline and the seconds its fit took."""
    pipeline = build_pipeline(list(model.features), model.label, variant.params, model.scale,
                              weighted=data.fraud_weight is not None, learner=variant.learner)
    started = time.perf_counter()
    if not variant.cache_vectors:
        return pipeline.fit(data.train), time.perf_counter() - started
    *prepare_stages, classifier = pipeline.getStages()
    prepared = Pipeline(stages=prepare_stages).fit(data.train)
    vectors = prepared.transform(data.train).persist(StorageLevel.MEMORY_AND_DISK)
    vectors.count()
    fitted = classifier.fit(vectors)
    seconds = time.perf_counter() - started
    vectors.unpersist()
    return PipelineModel([*prepared.stages, fitted]), seconds


def scoring_seconds(model: PipelineModel, features, keep: list[str]) -> float:
    """Best of two `noop` writes of every row's score (the first also warms the JVM's code up)."""
    times = []
    for _ in range(2):
        started = time.perf_counter()
        score(model, features, keep).write.format("noop").mode("overwrite").save()
        times.append(time.perf_counter() - started)
    return min(times)


def run_validation(spark, config, features_table: str, out: Path, only: list[str] | None) -> None:
    results = load(out)
    rows, all_folds = train.read_inputs(spark, config, features_table, None)
    block_counts = train.block_counter(train.date_counts(rows, config, features_table))
    folds = [f for f in all_folds if f.kind == VALIDATION]
    every_row = spark.read.parquet(features_table)
    total_rows = every_row.count()
    for name, variant in VARIANTS.items():
        if name in results["validation"] or (only and name not in only):
            continue
        model = dataclasses.replace(config.model, learner=variant.learner)
        prepared = []
        for fold in folds:  # a fold's own rows_per_fit_partition gives it `variant.partitions` partitions
            per_partition = math.ceil(block_counts(fold)[0] / variant.partitions) if variant.partitions else None
            fold_model = dataclasses.replace(
                model, rows_per_fit_partition=per_partition or model.rows_per_fit_partition)
            prepared += prepare_folds(rows, [fold], fold_model, block_counts)
        for data in prepared:
            data.train.count()
            data.test.count()
        root = str(out / "scores" / slug(name))
        seconds = []
        for data in prepared:
            fitted, fit_s = fit_variant(data, model, variant)
            seconds.append(fit_s)
            score(fitted, data.test, [*KEYS, model.label]).write.mode("overwrite").parquet(
                prediction_path(root, VALIDATION, 0, data.fold.index))
            if data is prepared[0]:
                saved = out / "models" / slug(name)
                fitted.write().overwrite().save(str(saved))
                size = folder_mb(saved)
                loaded = PipelineModel.load(str(saved))
                scoring = scoring_seconds(loaded, every_row, list(KEYS))
            log.info("learners: %s fold=%d fit_s=%.1f", name, data.fold.index, fit_s)
        metrics = summarize(fold_metrics(spark, root, VALIDATION, config.protocol, model.label))[0]
        results["validation"][name] = {
            "learner": variant.learner, "params": variant.params, "partitions": variant.partitions,
            "cache_vectors": variant.cache_vectors,
            "average_precision": metrics["average_precision"], "card_precision_at_k": metrics["card_precision_at_k"],
            "auc_roc": metrics["auc_roc"], "fit_s": [round(s, 1) for s in seconds],
            "mean_fit_s": round(sum(seconds) / len(seconds), 1), "model_mb": size,
            "scoring_s_per_million_rows": round(scoring / total_rows * 1e6, 2), "scored_rows": total_rows,
        }
        save(out, results)
        for data in prepared:
            data.train.unpersist()
            data.test.unpersist()


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def commit_code(commit: str, folder: Path):
    """A temporary git worktree of `commit` in `folder`, removed afterwards; yields the environment that runs its
    code: first on PYTHONPATH, so that Spark's Python workers import it too, not this checkout's (the venv's
    editable install)."""
    git("worktree", "add", "--detach", str(folder), commit)
    try:
        yield {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))}
    finally:
        git("worktree", "remove", "--force", str(folder))


def run_pipeline(features_table: str, out: Path, reference: list[str], candidate: list[str],
                 reference_commit: str | None) -> None:
    """Each config's training stage in its own process (its own session, nothing cached from the other); the
    reference runs the code of `reference_commit` (a temporary worktree) when given, else this checkout's."""
    results = load(out)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    entry = {"when": stamp, "configs": []}
    head = git("rev-parse", "--short", "HEAD") + ("+changes" if git("status", "--porcelain", "--untracked-files=no")
                                                  else "")
    for label, overrides in (("reference", reference), ("candidate", candidate)):
        work = out / f"pipeline-{stamp}" / slug(label)
        work.mkdir(parents=True)
        command = [sys.executable, __file__, "--features", features_table, "--out", str(out), "train-once",
                   "--work", str(work), *[f"--set={o}" for o in overrides]]
        if label == "reference" and reference_commit:
            commit = git("rev-parse", "--short", reference_commit)
            with commit_code(reference_commit, work / "code") as env:
                subprocess.run(command, check=True, env={**env, CODE_VARIABLE: str(work / "code")})
        else:
            commit = head
            subprocess.run(command, check=True)
        summary = json.loads((work / "training" / "summary.json").read_text())
        entry["configs"].append({
            "label": label, "commit": commit, "overrides": overrides, "chosen_params": summary["chosen_params"],
            "seconds": summary["seconds"], "wall_s": json.loads((work / "wall.json").read_text())["wall_s"],
            "validation": summary["validation"], "test": summary["test"]})
        shutil.rmtree(work / "training" / "predictions", ignore_errors=True)
    results["pipeline"].append(entry)
    save(out, results)
    print(pipeline_table(entry))


def run_whole_pipeline(out: Path, reference_commit: str, candidate_commit: str) -> None:
    """`fraud pipeline` for each commit's code and config, back to back (see the module's doc)."""
    results = load(out)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    entry = {"when": stamp, "configs": []}
    # resolved now: HEAD could move while the reference runs
    commits = {"reference": git("rev-parse", reference_commit), "candidate": git("rev-parse", candidate_commit)}
    for label, commit in commits.items():
        work = out / f"whole-pipeline-{stamp}" / label
        work.mkdir(parents=True)
        started = time.perf_counter()
        with commit_code(commit, work / "code") as env, open(work / "pipeline.log", "w") as log_file:
            env.pop("MLFLOW_TRACKING_URI", None)  # each run's own store: the config's data/mlflow under its folder
            subprocess.run([sys.executable, "-m", "jobs.pipeline"], cwd=work, env=env, check=True,
                           stdout=log_file, stderr=subprocess.STDOUT)
        wall = round(time.perf_counter() - started, 1)
        summary = json.loads((work / "data" / "training" / "summary.json").read_text())
        entry["configs"].append({
            "label": label, "commit": git("rev-parse", "--short", commit), "overrides": [],
            "chosen_params": summary["chosen_params"], "seconds": summary["seconds"], "pipeline_wall_s": wall,
            "validation": summary["validation"], "test": summary["test"]})
        shutil.rmtree(work / "data", ignore_errors=True)  # 1.8 M simulated rows and their features a run
    results.setdefault("whole_pipeline", []).append(entry)
    save(out, results)
    print(pipeline_table(entry))


def train_once(features_table: str, work: Path, overrides: list[str]) -> None:
    config = load_config(overrides=[
        *overrides, f"tracking.tracking_uri=sqlite:///{work}/mlflow.db",
        f"tracking.artifact_root={work}/mlflow-artifacts", "tracking.experiment=fraud-bench-learners"])
    spark = build_session(config)
    started = time.perf_counter()
    train.run(spark, with_pipeline_grid(config), features_table, str(work / "training"))
    (work / "wall.json").write_text(json.dumps({"wall_s": round(time.perf_counter() - started, 1)}))
    spark.stop()


def validation_table(rows: dict) -> str:
    lines = ["| row | validation AP | validation CP@100 | s a fit | model MB | scoring s / million rows |",
             "|---|---|---|---|---|---|"]
    best = max(r["average_precision"]["mean"] for r in rows.values()) if rows else 0
    for name, r in rows.items():
        ap = r["average_precision"]["mean"]
        lines.append(f"| {name} | {ap:.3f}{'' if best - ap > 0.002 else ' *'} | "
                     f"{r['card_precision_at_k']['mean']:.3f} | {r['mean_fit_s']:.1f} | {r['model_mb']:.2f} | "
                     f"{r['scoring_s_per_million_rows']:.2f} |")
    lines.append("\n\\* within 0.002 of the best validation AP")
    return "\n".join(lines)


def pipeline_table(entry: dict) -> str:
    lines = [f"pipeline training stage, {entry['when']}:",
             "| config | chosen | training stage s | validation AP | test AP | test CP@100 |",
             "|---|---|---|---|---|---|"]
    for c in entry["configs"]:
        p = c["chosen_params"]
        chosen = ", ".join(f"{k} {v}" for k, v in p.items() if k in ("maxIter", "maxDepth", "stepSize", "n_estimators",
                                                                     "max_depth", "learning_rate"))
        code = f" at {c['commit']}" if "commit" in c else ""
        wall = f" (whole command {c['pipeline_wall_s']:.0f} s)" if "pipeline_wall_s" in c else ""
        lines.append(f"| {c['label']}{code}: {' '.join(c['overrides']) or 'as configured'} | {chosen} | "
                     f"{c['seconds']['total']:.0f}{wall} | {c['validation']['average_precision']['mean']:.3f} | "
                     f"{c['test']['average_precision']['mean']:.3f} | {c['test']['card_precision_at_k']['mean']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="/tmp/full/features")
    parser.add_argument("--out", default=str(ROOT / "bench/out/learners"))
    sub = parser.add_subparsers(dest="mode", required=True)
    validation = sub.add_parser("validation")
    validation.add_argument("--only", action="append")
    pipeline = sub.add_parser("pipeline")
    pipeline.add_argument("--reference", action="append", default=[], help="a config override of the reference")
    pipeline.add_argument("--candidate", action="append", default=[], help="a config override of the candidate")
    pipeline.add_argument("--reference-commit", help="run the reference with this commit's code (a git worktree)")
    whole = sub.add_parser("whole-pipeline")
    whole.add_argument("--reference-commit", required=True)
    whole.add_argument("--candidate-commit", default="HEAD")
    once = sub.add_parser("train-once")
    once.add_argument("--work", required=True)
    once.add_argument("--set", action="append", default=[])
    sub.add_parser("report")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    configure_logging()
    if args.mode == "validation":
        config = load_config(overrides=["model.parallelism=1", "anomaly.enabled=false"])
        spark = build_session(config)
        spark.sparkContext.setCheckpointDir(str(out / "checkpoints"))
        run_validation(spark, config, args.features, out, args.only)
        spark.stop()
        print(validation_table(load(out)["validation"]))
    elif args.mode == "pipeline":
        run_pipeline(args.features, out, args.reference, args.candidate, args.reference_commit)
    elif args.mode == "whole-pipeline":
        run_whole_pipeline(out, args.reference_commit, args.candidate_commit)
    elif args.mode == "train-once":
        train_once(args.features, Path(args.work), args.set)
    else:
        results = load(out)
        print(validation_table(results["validation"]))
        for entry in [*results["pipeline"], *results.get("whole_pipeline", [])]:
            print()
            print(pipeline_table(entry))


if __name__ == "__main__":
    main()
