"""The 30-day operational backtest: a month of `fraud daily` with the weekly retrain, drift injected mid-month.

    .venv/bin/python bench/backtest.py [--out bench/out/backtest] [--first 2018-08-25] [--days 30]
                                       [--drift-day 15] [--set section.key=value ...] [--report]

1. Simulates the handbook-size half-year (2018-04-01 .. 09-30) with drift from the --drift-day-th day of the month
   (amounts x1.3 and 20 cards a day doing card testing, the simulator's drift options; `--set simulator.drift.*`
   changes them).
2. Builds the features of every day before the month and trains the first champion on them (`fraud retrain` on
   the day before the month: the folds end on the latest labels; the grid is `model.pipeline_grid`).
3. Runs `fraud daily` for each day of the month in order, with `retrain.with_daily` (a retrain when the last
   training's data is `retrain.every_days` old, promoted only through the champion/challenger gate).
4. Once every label of the month has matured (the simulator knows them), measures each day: scored rows, alerts,
   queue precision (the share of the queue's cards with a fraud that day), the fraud amount of the queue's cards
   and the fraud amount missed, the monitoring status, whether a retrain ran and was promoted, and the wall time.
Each night's figures are kept in OUT/nights.jsonl as it ends; `--report` only measures and reports those.
Prints the table, writes OUT/backtest.json and OUT/backtest.png, and an estimate of a night on EMR at 100x the data
(the assumptions are printed with it).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyspark.sql import functions as F  # noqa: E402

from conf import load_config  # noqa: E402
from emr.cluster import executors  # noqa: E402
from jobs import build_features, daily, generate, retrain  # noqa: E402
from jobs.common import build_session, configure_logging  # noqa: E402

# the default cluster's on-demand list price in us-east-1 (one m6i.xlarge, two m6i.2xlarge core nodes, two Spot
# m6i.2xlarge task nodes, with the EMR uplift), as docs/emr-operations.md states it
CLUSTER_DOLLARS_PER_HOUR = 1.70
CLUSTER_START_MINUTES = 8  # a transient cluster's provisioning and bootstrap, from EMR's usual figures
LOCAL_CORES = 2


def month_config(out: Path, first: dt.date, drift_day: int, overrides: list[str]):
    base = load_config(None)
    grid = "{" + ", ".join(f"{k}: [{', '.join(map(str, v))}]" for k, v in base.model.pipeline_grid.items()) + "}"
    return load_config(None, [
        f"simulator.drift.start_date={first + dt.timedelta(days=drift_day - 1)}", "simulator.drift.amount_factor=1.3",
        "simulator.drift.card_testing_cards_per_day=20", f"model.grid={grid}", "retrain.with_daily=true",
        *(f"paths.{p}={out / p}" for p in ("raw", "features", "training", "publish")),
        f"tracking.tracking_uri=sqlite:///{out}/mlflow/mlflow.db", f"tracking.artifact_root={out}/mlflow/artifacts",
        "tracking.experiment=backtest", *overrides])


def measured_days(spark, config, days: list[dt.date]) -> dict[dt.date, dict]:
    """Per day, with every label known: queue precision, fraud amount caught in the queue and missed."""
    raw = spark.read.parquet(f"{config.paths.raw}/transactions").where(F.col("tx_date").isin(days))
    alerts = spark.read.parquet(f"{config.paths.publish}/alerts").where(F.col("tx_date").isin(days)).select(
        "tx_date", "customer_id").distinct().withColumn("queued", F.lit(True))
    cards = raw.groupBy("tx_date", "customer_id").agg(
        F.max("tx_fraud").alias("fraud"), F.sum(F.when(F.col("tx_fraud") == 1, F.col("tx_amount"))).alias("amount"))
    joined = cards.join(alerts, on=["tx_date", "customer_id"], how="left").fillna({"queued": False, "amount": 0.0})
    rows = joined.groupBy("tx_date").agg(  # one row a day
        F.sum(F.when(F.col("queued"), F.col("fraud"))).alias("queued_frauds"),
        F.sum(F.col("queued").cast("int")).alias("queued"),
        F.sum(F.when(F.col("queued"), F.col("amount"))).alias("caught"),
        F.sum(F.when(~F.col("queued"), F.col("amount"))).alias("missed")).collect()
    return {r["tx_date"]: {"queue_precision": round((r["queued_frauds"] or 0) / max(1, r["queued"]), 3),
                           "fraud_amount_caught": round(r["caught"] or 0.0, 2),
                           "fraud_amount_missed": round(r["missed"] or 0.0, 2)} for r in rows}


def estimate(seconds_per_night: float, config) -> dict:
    """A night at 100x on conf/emr.yaml's cluster, assuming the cost grows linearly with the data (bench/README.md,
    "Scale") and the cluster's executor cores do the work of the local cores at the same speed each."""
    cores = executors(config.emr) * config.emr.executor_cores
    work_minutes = seconds_per_night * LOCAL_CORES * 100 / cores / 60
    hours = (work_minutes + CLUSTER_START_MINUTES) / 60
    return {"local_seconds_per_night": round(seconds_per_night, 1), "cluster_executor_cores": cores,
            "minutes_of_work_at_100x": round(work_minutes, 1), "cluster_start_minutes": CLUSTER_START_MINUTES,
            "dollars_per_night": round(hours * CLUSTER_DOLLARS_PER_HOUR, 2),
            "assumptions": f"linear cost in rows; {LOCAL_CORES} local cores -> {cores} executor cores at the same "
                           f"speed per core; ${CLUSTER_DOLLARS_PER_HOUR}/h list price for the whole cluster, "
                           f"{CLUSTER_START_MINUTES} min of start-up billed; S3 and MLflow server costs left out"}


def chart(rows: list[dict], path: Path, drift: dt.date) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [dt.date.fromisoformat(r["date"]) for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.plot(days, [r["queue_precision"] for r in rows], marker="o", label="queue precision")
    top.axvline(drift, color="grey", linestyle="--", label="drift starts")
    for r, d in zip(rows, days):
        if r["retrain"] == "promoted":
            top.axvline(d, color="green", alpha=0.4)
        if r["monitoring"] != "ok":
            top.scatter([d], [r["queue_precision"]], color="red", zorder=3)
    top.set_ylabel("precision of the queue")
    top.legend(loc="lower left")
    bottom.bar(days, [r["fraud_amount_caught"] for r in rows], label="fraud amount in the queue")
    bottom.bar(days, [r["fraud_amount_missed"] for r in rows], bottom=[r["fraud_amount_caught"] for r in rows],
               label="fraud amount missed", alpha=0.5)
    bottom.set_ylabel("amount")
    bottom.legend(loc="upper left")
    fig.suptitle(f"{len(rows)} nights of fraud daily: red = monitoring degraded, green = retrain promoted")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def night_record(day: dt.date, night: dict) -> dict:
    """What the report keeps of a night's summaries (`daily.run_day`)."""
    retrained = night.get("retrained") or {}
    return {"date": str(day), "scored": night["scored"]["rows_scored"], "alerts": night["scored"]["alerts"],
            "monitoring": "degraded" if str(day) in night["monitored"]["degraded_days"] else "ok",
            "retrain": ("none" if not retrained.get("retrained") else
                        "promoted" if retrained["registered_model"]["alias"] == "champion" else "not promoted"),
            "seconds": night["seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/out/backtest"))
    parser.add_argument("--first", default="2018-08-25", type=dt.date.fromisoformat)
    parser.add_argument("--days", default=30, type=int)
    parser.add_argument("--drift-day", default=15, type=int)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--report", action="store_true",
                        help="only measure and report the nights already in OUT/nights.jsonl")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    config = month_config(out, args.first, args.drift_day, args.overrides)
    days = [args.first + dt.timedelta(days=i) for i in range(args.days)]
    configure_logging()
    spark = build_session(config)
    nights_file, setup_seconds, first_model = out / "nights.jsonl", None, None
    if not args.report:
        started = time.perf_counter()
        generate.run(spark, config, config.paths.raw)
        build_features.run(spark, config, f"{config.paths.raw}/transactions", config.paths.features,
                           end=days[0] - dt.timedelta(days=1))
        first_model = retrain.run(spark, config, config.paths.features, config.paths.training,
                                  end=days[0] - dt.timedelta(days=1))["registered_model"]
        setup_seconds = round(time.perf_counter() - started, 1)
        nights_file.write_text("")
        for day in days:
            night = daily.run_day(spark, config, day)
            print(daily.day_line(day, night), flush=True)
            with nights_file.open("a") as nights:  # kept night by night: a failure later loses no night
                nights.write(json.dumps(night_record(day, night)) + "\n")
    recorded = {r["date"]: r for r in map(json.loads, nights_file.read_text().splitlines())}
    measured = measured_days(spark, config, days)
    rows = [{**recorded[str(day)], **measured[day]} for day in days]
    nightly = [r["seconds"] for r in rows if r["retrain"] == "none"]
    result = {"days": rows, "setup_seconds": setup_seconds, "first_model": first_model, "overrides": args.overrides,
              "emr_estimate_100x": estimate(sorted(nightly)[len(nightly) // 2], load_config("emr"))}
    (out / "backtest.json").write_text(json.dumps(result, indent=2))
    chart(rows, out / "backtest.png", args.first + dt.timedelta(days=args.drift_day - 1))
    columns = ("date", "scored", "alerts", "queue_precision", "fraud_amount_caught", "fraud_amount_missed",
               "monitoring", "retrain", "seconds")
    print("\n" + " | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    print(f"\nmedian night without a retrain: {result['emr_estimate_100x']['local_seconds_per_night']} s here; "
          f"EMR at 100x: {json.dumps(result['emr_estimate_100x'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
