"""Monitoring acceptance: does the monitor catch drift injected into a simulated half-year, and stay quiet before?

    .venv/bin/python bench/drift.py [--out bench/out/drift] [--drift-date 2018-08-01] [--set section.key=value ...]

1. Simulates the handbook-size half-year (2018-04-01 .. 09-30) with drift from --drift-date (month 5): amounts x1.3
   and 20 cards a day doing card testing (scenario 4), unless --set overrides `simulator.drift.*`.
2. Builds the features, trains a model on data before the drift (protocol moved to end its test folds on
   07-24, final block 07-18 .. 07-24, a one-setting grid: the selection is not what is measured here), scores
   2018-07-01 .. 09-30 with it and monitors those days with every label known (as of 09-30 + the delay).
3. Prints, per month, the monitored and the degraded days, the first degraded day and its delay after the drift
   start, and the days flagged before it (false alarms). Results also go to OUT/drift.json.
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

from conf import load_config  # noqa: E402
from jobs import build_features, generate, monitor, score, train  # noqa: E402
from jobs.common import build_session, configure_logging  # noqa: E402

SCORED = (dt.date(2018, 7, 1), dt.date(2018, 9, 30))
PRE_DRIFT_TRAINING = ("protocol.training_start=2018-06-13", "model.grid={maxIter: [100], maxDepth: [3], "
                      "stepSize: [0.3]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/out/drift"))
    parser.add_argument("--drift-date", default="2018-08-01")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    drift_date = dt.date.fromisoformat(args.drift_date)
    config = load_config(None, [
        f"simulator.drift.start_date={drift_date}", "simulator.drift.amount_factor=1.3",
        "simulator.drift.card_testing_cards_per_day=20", *PRE_DRIFT_TRAINING,
        f"tracking.tracking_uri=sqlite:///{out}/mlflow/mlflow.db", f"tracking.artifact_root={out}/mlflow/artifacts",
        "tracking.experiment=drift-bench", *args.overrides])
    configure_logging()
    spark = build_session(config)
    seconds = {}
    started = time.perf_counter()
    generate.run(spark, config, str(out / "raw"))
    build_features.run(spark, config, str(out / "raw/transactions"), str(out / "features"))
    seconds["data"] = time.perf_counter() - started
    trained = train.run(spark, config, str(out / "features"), str(out / "training"), end=dt.date(2018, 7, 31))
    seconds["train"] = time.perf_counter() - started - sum(seconds.values())
    score.run(spark, config, str(out / "features"), str(out / "publish"), *SCORED,
              given_model=f"runs:/{trained['mlflow_run_id']}/model")
    seconds["score"] = time.perf_counter() - started - sum(seconds.values())
    summary = monitor.run(spark, config, str(out / "publish"), *SCORED,
                          as_of=SCORED[1] + dt.timedelta(days=config.protocol.delay_days))
    seconds["monitor"] = time.perf_counter() - started - sum(seconds.values())
    rows = [r.asDict() for r in spark.read.parquet(str(out / "publish/monitoring")).orderBy("tx_date").collect()]
    result = report(rows, drift_date)
    result.update(seconds={k: round(v, 1) for k, v in seconds.items()}, monitor_report=summary["report"],
                  model_test=trained["test"])
    (out / "drift.json").write_text(json.dumps(result, indent=2, default=str))
    return 0


def report(rows: list[dict], drift_date: dt.date) -> dict:
    degraded = [r for r in rows if r["status"] == "degraded"]
    first = next((r for r in degraded if r["tx_date"] >= drift_date), None)
    before = [r for r in degraded if r["tx_date"] < drift_date]
    print(f"{'month':<9}{'days':>6}{'degraded':>10}{'max PSI':>10}{'mean AP (mature)':>18}")
    months = {}
    for r in rows:
        months.setdefault(r["tx_date"].strftime("%Y-%m"), []).append(r)
    for month, days in months.items():
        aps = [d["average_precision"] for d in days if d["average_precision"] is not None]
        print(f"{month:<9}{len(days):>6}{sum(d['status'] == 'degraded' for d in days):>10}"
              f"{max(d['max_feature_psi'] for d in days):>10.3f}{(sum(aps) / len(aps) if aps else float('nan')):>18.3f}")
    lag = (first["tx_date"] - drift_date).days if first else None
    print(f"drift starts {drift_date}; first degraded day {first and first['tx_date']} (after {lag} days): "
          f"{first and first['breaches'][:3]}")
    print(f"degraded days before the drift: {len(before)} {[str(r['tx_date']) for r in before]}")
    return {"drift_date": drift_date, "first_degraded": first and first["tx_date"], "days_to_flag": lag,
            "false_alarms_before_drift": [r["tx_date"] for r in before],
            "months": {m: {"days": len(d), "degraded": sum(x["status"] == "degraded" for x in d),
                           "max_feature_psi": max(x["max_feature_psi"] for x in d),
                           "max_score_psi": max(x["score_psi"] for x in d)} for m, d in months.items()},
            "rows": [{k: r[k] for k in ("tx_date", "status", "max_feature_psi", "max_psi_feature", "score_psi",
                                        "max_feature_ks", "volume_ratio", "gx_success", "average_precision",
                                        "card_precision_at_k", "breaches")} for r in rows]}


if __name__ == "__main__":
    sys.exit(main())
