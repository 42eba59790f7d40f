"""Retraining on a cadence: the training job on the latest labelled weeks, promoted only through the gate.

    fraud retrain [--end-date D] [--if-due] [--config ...] [--set section.key=value ...]
    spark-submit jobs/retrain.py [--if-due]

Trains as `fraud train` does (the grid `model.grid`, validation folds, test folds, the final fit, MLflow), with
the protocol's folds moved so that they end on the latest labels: the newest test fold's test days end
`protocol.delay_days` before D (default: the features table's last date), and the final model trains on the block
that ends there too (`models.folds.rolling_protocol`). The new version is registered as a challenger and takes the
champion alias only when the existing gate says it beats the champion on the same test folds; `fraud daily`
scores with whatever holds the alias. `--if-due` trains only when the last training run's data ended
`retrain.every_days` days or more before D (the weekly schedule runs it with `--if-due`, so a re-run the same week
does nothing).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import sys

import mlflow
from pyspark.sql import SparkSession

from conf import Config
from jobs import train
from jobs.train import DATA_END_TAG
from jobs.build_features import partitions
from jobs.common import base_parser, build_session, configure_logging, iso_date, log, parse_config
from jobs.tables import FEATURES, input_table
from models import tracking
from models.folds import rolling_protocol


def latest_date(spark: SparkSession, config: Config, features_table: str) -> dt.date:
    dates = [d for d, p in partitions(spark, input_table(spark, config, features_table, FEATURES)).items() if p.files]
    if not dates:
        raise LookupError(f"the features table {features_table} has no data: build the features first")
    return max(dates)


def last_trained(config: Config) -> dt.date | None:
    """The data end of the newest training run in the experiment (None when there is none)."""
    tracking.use_experiment(config.tracking, config.aws.endpoint_url)
    runs = mlflow.search_runs(experiment_names=[config.tracking.experiment],
                              filter_string=f"tags.{DATA_END_TAG} != ''", order_by=[f"tags.{DATA_END_TAG} DESC"],
                              max_results=1, output_format="list")
    return dt.date.fromisoformat(runs[0].data.tags[DATA_END_TAG][:10]) if runs else None  # a date (or an hour)


def is_due(config: Config, end: dt.date) -> tuple[bool, str]:
    """(due or not, why)."""
    last = last_trained(config)
    if last is None:
        return True, "no training run yet"
    gap = (end - last).days
    if gap >= config.retrain.every_days:
        return True, f"the last training's data ended {last}, {gap} days before {end}"
    return False, f"the last training's data ended {last}, {gap} of {config.retrain.every_days} days before {end}"


def run(spark: SparkSession, config: Config, features_table: str, output: str, end: dt.date | None = None,
        if_due: bool = False) -> dict:
    """The training summary (with `retrained: true`), or {"retrained": false, "reason": ...} when not due."""
    end = end or latest_date(spark, config, features_table)
    if if_due:
        due, reason = is_due(config, end)
        if not due:
            log.info("retrain: not due (%s)", reason)
            return {"retrained": False, "reason": reason, "end": str(end)}
    moved = dataclasses.replace(config, protocol=rolling_protocol(config.protocol, end))
    summary = train.run(spark, moved, features_table, output, end)
    return {"retrained": True, "end": str(end), "training_start": str(moved.protocol.training_start), **summary}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud retrain --if-due")
    parser.add_argument("--features", help="features table (default: paths.features)")
    parser.add_argument("--output", help="folder for summary.json and the fold scores (default: paths.training)")
    parser.add_argument("--end-date", type=iso_date, help="the last date with features (default: the table's last)")
    parser.add_argument("--if-due", action="store_true", help="train only when retrain.every_days have passed")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    features, output = args.features or config.paths.features, args.output or config.paths.training
    spark = build_session(config, uris=[features, output])
    summary = run(spark, config, features, output, args.end_date, args.if_due)
    if summary["retrained"]:
        print(train.report(summary, config.protocol.top_k))
    else:
        print(f"not retrained: {summary['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
