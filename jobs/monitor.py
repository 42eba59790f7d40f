"""Monitor scored days: drift against the training reference of the model that scored them, and ranking quality
once their labels are mature.

    spark-submit jobs/monitor.py --date D [--end-date D] [--as-of D] [--publish DIR] [--config FILE ...]
    fraud monitor --date 2018-09-30

For each requested date (which must be scored), and for the date `protocol.delay_days` earlier whose labels have
just matured, writes one row a day to the table DIR/monitoring (Iceberg, or Parquet folders without a catalog):
volume against the reference, queued cards, PSI and KS
of every model input and of the score, a Great Expectations check of the day's inputs built from the reference,
and (labels mature: at least the delay before --as-of, default --end-date) AUC ROC, average precision and CP@k
of the day. A breach of any `monitoring.*` threshold marks the day `degraded` and names the breach. Re-running a
date replaces its row. Leaves an HTML report with the trend of the whole table in DIR/_reports/, the Great
Expectations checks' pages in the Data Docs site DIR/_data_docs/ and, with
`monitoring.sns_topic_arn` set and a degraded day, publishes the degraded days there.
"""
from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from functools import partial

from pyspark.sql import DataFrame, SparkSession, functions as F

from conf import Config
from emr import clients, notify
from expectations.contracts import PARTITION_COLUMN, ContractError
from expectations.data_docs import Validated
from expectations.suites import reference_suite, run_suite
from jobs.common import (base_parser, build_session, configure_logging, iso_date, load_tracking_credentials, log,
                         parse_config, step)
from jobs.files import require_locations, table_path, write_text
from jobs.tables import MONITORING, SCORED, input_table, output_table, partitions, read_all, write_dates
from jobs.validation import publish_data_docs
from models import monitoring, monitoring_report, reference, tracking
from models.metrics import ranking_metrics

GROUP = "_monitored_date"


def monitored_dates(available: list[dt.date], start: dt.date, end: dt.date, delay: int, table: str) -> list[dt.date]:
    """The requested dates (each must be scored) and, where scored, the dates `delay` days before them."""
    requested = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    missing = [d for d in requested if d not in available]
    if missing:
        raise ContractError("scored_transactions", table, PARTITION_COLUMN, "dates_have_data",
                            f"{len(missing)} requested date(s) not scored: {', '.join(map(str, missing[:5]))}"
                            f"{' ...' if len(missing) > 5 else ''} (run fraud score for them first)")
    matured = {d - dt.timedelta(days=delay) for d in requested}
    return sorted(set(requested) | {d for d in matured if d in available})


def model_of_each_day(scored: DataFrame, table: str) -> dict[dt.date, tuple[str, str]]:
    """{date: (mlflow run id, model version)}; a date scored by two models at once is an error."""
    models = {}
    for row in scored.select(PARTITION_COLUMN, "mlflow_run_id", "model_version").distinct().collect():  # per day
        day = row[PARTITION_COLUMN]
        if day in models:
            raise ContractError("scored_transactions", table, "mlflow_run_id", "one_model_per_day",
                                f"{day} holds rows of more than one model run; re-score the date")
        models[day] = (row["mlflow_run_id"], row["model_version"])
    return models


def day_rows(config: Config, scored: DataFrame, models: dict, as_of: dt.date, run_id: str,
             validated: list[Validated] | None = None, table: str = SCORED) -> list[dict]:
    """The monitoring row of each day of `scored` (table `table`); each day's check of its inputs against the
    reference is appended to `validated`, for the Data Docs."""
    limits, now = config.monitoring, dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    counts = {r[PARTITION_COLUMN]: r for r in scored.groupBy(PARTITION_COLUMN).agg(
        F.count_distinct(F.when(F.col("outcome") == "investigate", F.col("customer_id"))).alias("alerted_cards"),
        F.sum("tx_fraud").alias("frauds")).collect()}  # one row a day
    mature = monitoring.mature_dates(sorted(models), as_of, config.protocol.delay_days)
    quality = {}
    if mature:
        in_mature = F.col(PARTITION_COLUMN).isin(mature)
        # grouped by a copy of the date: the metrics' own day column (CP@k's card removal) is the date itself
        quality = {r[GROUP]: r for r in ranking_metrics(
            scored.where(in_mature).withColumn(GROUP, F.col(PARTITION_COLUMN)), config.protocol.top_k,
            by=(GROUP,), score=reference.SCORE).collect()}  # one row a day
    rows = []
    for model_run in sorted({m[0] for m in models.values()}):
        profile = tracking.load_reference(model_run)
        features = [c for c in profile["columns"] if c != reference.SCORE and c not in limits.exclude_features]
        days = [d for d, m in models.items() if m[0] == model_run]
        of_run = scored.where(F.col(PARTITION_COLUMN).isin(days))
        suite_inputs = [c for c in profile["columns"] if c != reference.SCORE]
        for day in reference.daily_shares(of_run, profile, [*features, reference.SCORE]):
            date = day[PARTITION_COLUMN]
            make_suite = partial(reference_suite, f"features_vs_reference_{date}", profile, features,
                                 limits.mean_tolerance, limits.range_mostly)
            report = run_suite(of_run.where(F.col(PARTITION_COLUMN) == F.lit(date)).select(*suite_inputs), make_suite)
            if validated is not None:
                validated.append(Validated(make_suite, report.result, str(date), table))
            metrics = quality.get(date)
            row = {PARTITION_COLUMN: date, "mlflow_run_id": model_run, "model_version": models[date][1],
                   **monitoring.drift(day, profile, features),
                   "alerted_cards": counts[date]["alerted_cards"], "frauds": counts[date]["frauds"],
                   "gx_success": report.success, "gx_failures": [str(f) for f in report.failures],
                   "labels_mature": date in mature, "run_id": run_id, "monitored_at": now,
                   **{m: (metrics[m] if metrics else None)
                      for m in ("auc_roc", "average_precision", "card_precision_at_k")}}
            row["breaches"] = monitoring.breaches(row, limits)
            row["status"] = monitoring.DEGRADED if row["breaches"] else monitoring.OK
            rows.append(row)
    return sorted(rows, key=lambda r: r[PARTITION_COLUMN])


def run(spark: SparkSession, config: Config, publish: str, start: dt.date, end: dt.date | None = None,
        as_of: dt.date | None = None) -> dict:
    require_locations(spark, publish)
    started, run_id, end = time.perf_counter(), uuid.uuid4().hex[:12], end or start
    scored_table = input_table(spark, config, table_path(publish, "scored"), SCORED)
    table = output_table(config, table_path(publish, "monitoring"), MONITORING)
    load_tracking_credentials(config)  # an HTTPS server's, from Secrets Manager
    tracking.use_experiment(config.tracking, config.aws.endpoint_url)
    with step("plan") as figures:
        available = sorted(d for d, p in partitions(spark, scored_table).items() if p.files)
        dates = monitored_dates(available, start, end, config.protocol.delay_days, str(scored_table))
        scored = read_all(spark, scored_table).where(F.col(PARTITION_COLUMN).isin(dates))
        models = model_of_each_day(scored, str(scored_table))
        figures.update(dates=len(dates), models=len(set(models.values())))
    validated = []
    with step("measure") as figures:
        rows = day_rows(config, scored, models, as_of or end, run_id, validated, str(scored_table))
        degraded = [r for r in rows if r["status"] == monitoring.DEGRADED]
        figures.update(days=len(rows), degraded=len(degraded))
    with step("write"):
        snapshot = write_dates(spark.createDataFrame(rows, monitoring.SCHEMA), table, dates, run_id, "monitor")
    summary = {"run_id": run_id, "first_date": str(dates[0]), "last_date": str(dates[-1]),
               "as_of": str(as_of or end), "days": len(rows), "degraded_days": [str(r["tx_date"]) for r in degraded],
               "breaches": {str(r["tx_date"]): r["breaches"] for r in degraded},
               **({"snapshot": snapshot} if table.iceberg else {})}
    if config.validation.data_docs and validated:
        summary["data_docs"] = publish_data_docs(spark, publish, run_id, validated)
    with step("report"):
        history = read_all(spark, table).orderBy(PARTITION_COLUMN)
        summary["report"] = table_path(publish, f"_reports/monitoring_{dates[0]}_{dates[-1]}_{run_id}.html")
        write_text(spark, summary["report"], monitoring_report.build(
            [r.asDict() for r in history.drop("feature_psi", "feature_ks").collect()], config.monitoring, summary,
            config.protocol.delay_days))
    if degraded and config.monitoring.sns_topic_arn:
        with step("notify"):
            summary["notification"] = notify.publish_text(
                clients.client("sns", config.aws), config.monitoring.sns_topic_arn,
                f"Fraud monitoring: {len(degraded)} degraded day(s) from {degraded[0]['tx_date']}",
                "\n".join(f"{day}: {'; '.join(found)}" for day, found in summary["breaches"].items()))
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud monitor --date 2018-09-24 --end-date 2018-09-30")
    parser.add_argument("--publish", help="folder holding scored/ (default: paths.publish); monitoring/ goes there")
    parser.add_argument("--date", type=iso_date, required=True, help="the (first) scored date to monitor")
    parser.add_argument("--end-date", type=iso_date, help="default: --date")
    parser.add_argument("--as-of", type=iso_date, help="the day labels are known up to, minus the delay "
                                                       "(default: --end-date)")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    spark = build_session(config, uris=[args.publish or config.paths.publish])
    summary = run(spark, config, args.publish or config.paths.publish, args.date, args.end_date, args.as_of)
    log.info("monitor %s", summary)
    print("\n".join(f"{k:<16}{v}" for k, v in summary.items() if k != "breaches"))
    for day, found in summary["breaches"].items():
        print(f"degraded {day}: {'; '.join(found)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
