"""Where one training fit's time goes, from Spark's own event log (issue 30).

    .venv/bin/python bench/train_profile.py --features /tmp/full/features [--learner gbt|xgboost]
        [--trees 100 --depth 3 --step 0.3] [--out bench/out/profile]

Prepares the first validation fold as training does (its rows cached and counted first, so the profile holds the
fit alone), fits one setting of the configured model in the job group `profiled-fit`, stops Spark, and reads the
event log: Spark jobs and completed stages of the fit, tasks per stage, time inside tasks (deserialising, running,
serialising the result) against the rest of the fit's wall time (scheduling, the driver's work between jobs), and
shuffle bytes. Prints a markdown table and writes OUT/profile-<learner>.json.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conf import load_config  # noqa: E402
from jobs import train  # noqa: E402
from jobs.common import build_session  # noqa: E402
from models.folds import VALIDATION  # noqa: E402
from models.pipeline import parameter_settings  # noqa: E402
from models.training import fit, prepare_folds  # noqa: E402

GROUP = "profiled-fit"


def fit_once(args, log_dir: Path) -> tuple[float, int]:
    overrides = [f"model.learner={args.learner}",
                 f"model.grid={{maxIter: [{args.trees}], maxDepth: [{args.depth}], stepSize: [{args.step}]}}",
                 "spark.extra={spark.eventLog.enabled: 'true', spark.eventLog.compress: 'false', "
                 f"spark.eventLog.dir: 'file://{log_dir}'}}"]
    config = load_config(overrides=overrides)
    spark = build_session(config)
    try:
        features, folds = train.read_inputs(spark, config, args.features, None)
        fold = next(f for f in folds if f.kind == VALIDATION)
        block_counts = train.block_counter(train.date_counts(features, config, args.features))
        data = prepare_folds(features, [fold], config.model, block_counts)[0]
        rows = data.train.count()  # cached before the profiled fit
        spark.sparkContext.setCheckpointDir(str(log_dir / "checkpoints"))
        spark.sparkContext.setJobGroup(GROUP, "the profiled fit")
        started = time.perf_counter()
        fit(data, config.model, parameter_settings(config.model)[0])
        seconds = time.perf_counter() - started
        spark.sparkContext.setJobGroup("after", "after the fit")
    finally:
        spark.stop()
    return seconds, rows


def read_profile(log_file: str) -> dict:
    jobs, stages, tasks = set(), {}, []
    with open(log_file) as lines:
        events = [json.loads(line) for line in lines]
    for event in events:
        if event["Event"] == "SparkListenerJobStart" and event.get("Properties", {}).get(
                "spark.jobGroup.id") == GROUP:
            jobs.add(event["Job ID"])
            for stage_id in event["Stage IDs"]:
                stages.setdefault(stage_id, None)
    for event in events:
        if event["Event"] == "SparkListenerStageCompleted" and event["Stage Info"]["Stage ID"] in stages:
            stages[event["Stage Info"]["Stage ID"]] = event["Stage Info"]["Number of Tasks"]
        if event["Event"] == "SparkListenerTaskEnd" and event["Stage ID"] in stages:
            tasks.append(event)
    completed = {k: v for k, v in stages.items() if v is not None}
    names = {event["Stage Info"]["Stage ID"]: event["Stage Info"]["Stage Name"] for event in events
             if event["Event"] == "SparkListenerStageCompleted" and event["Stage Info"]["Stage ID"] in completed}
    by_name: dict[str, dict] = {}
    for task in tasks:  # what each kind of stage (named by the Spark ML call that made it) costs
        metrics = task.get("Task Metrics") or {}
        entry = by_name.setdefault(names.get(task["Stage ID"], "?"), {"tasks": 0, "task_run_s": 0.0})
        entry["tasks"] += 1
        entry["task_run_s"] = round(entry["task_run_s"] + metrics.get("Executor Run Time", 0) / 1e3, 2)

    def total(path: list[str]) -> float:
        sum_ = 0.0
        for task in tasks:
            value = task.get("Task Metrics") or {}
            for key in path:
                value = value.get(key, 0) if isinstance(value, dict) else 0
            sum_ += value or 0
        return sum_
    return {
        "jobs": len(jobs), "stages": len(completed), "tasks": len(tasks),
        "tasks_per_stage": round(len(tasks) / max(len(completed), 1), 2),
        "task_wall_s": round(sum(t["Task Info"]["Finish Time"] - t["Task Info"]["Launch Time"] for t in tasks) / 1e3,
                             1),
        "task_run_s": round(total(["Executor Run Time"]) / 1e3, 1),
        "task_deserialize_s": round(total(["Executor Deserialize Time"]) / 1e3, 1),
        "result_serialize_s": round(total(["Result Serialization Time"]) / 1e3, 1),
        "shuffle_written_mb": round(total(["Shuffle Write Metrics", "Shuffle Bytes Written"]) / 1e6, 2),
        "shuffle_read_mb": round((total(["Shuffle Read Metrics", "Local Bytes Read"])
                                  + total(["Shuffle Read Metrics", "Remote Bytes Read"])) / 1e6, 2),
        "by_stage_name": dict(sorted(by_name.items(), key=lambda item: -item[1]["task_run_s"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", required=True)
    parser.add_argument("--learner", default="gbt", choices=("gbt", "xgboost"))
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--step", type=float, default=0.3)
    parser.add_argument("--out", default=str(ROOT / "bench/out/profile"))
    args = parser.parse_args()
    out = Path(args.out).resolve()
    log_dir = out / f"events-{args.learner}-{int(time.time())}"
    log_dir.mkdir(parents=True)
    seconds, rows = fit_once(args, log_dir)
    [log_file] = [f for f in glob.glob(f"{log_dir}/*") if Path(f).is_file()]
    profile = {"learner": args.learner, "trees": args.trees, "depth": args.depth, "step": args.step,
               "training_rows": rows, "fit_s": round(seconds, 1), **read_profile(log_file)}
    profile["per_tree"] = {k: round(profile[k] / args.trees, 2) for k in ("jobs", "stages", "shuffle_written_mb")}
    profile["outside_tasks_s"] = round(profile["fit_s"] - profile["task_wall_s"], 1)  # if tasks never overlap
    by_name = profile.pop("by_stage_name")
    print("| " + " | ".join(profile) + " |")
    print("|" + "---|" * len(profile))
    print("| " + " | ".join(str(v) for v in profile.values()) + " |")
    print("\n| stage (the call that made it) | tasks | task run s |\n|---|---|---|")
    for name, entry in by_name.items():
        print(f"| {name} | {entry['tasks']} | {entry['task_run_s']:.1f} |")
    profile["by_stage_name"] = by_name
    (out / f"profile-{args.learner}.json").write_text(json.dumps(profile, indent=1))


if __name__ == "__main__":
    main()
