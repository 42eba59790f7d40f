"""Score the requested dates with a registered model: the scored transactions and the investigators' daily queue.

    spark-submit jobs/score.py --features FEATURES_TABLE --output DIR --start-date D [--end-date D] [--model URI]
    fraud score --features data/features --output data/publish --start-date 2018-09-30

Loads `models:/<model.registered_name>@champion` unless --model (or scoring.model_uri) names another model URI.
Writes DIR/scored (one row per transaction: ids, time, amount, fraud_probability, risk_score 0-1000,
outcome investigate / review / pass, the anomaly signals kmeans_distance and isolation_forest_score when
anomaly.enabled, the three strongest reasons with their contributions, model name, version and run, scored_at)
and DIR/alerts (the day's queue of cards, ranked): Iceberg tables in the config's catalog, or Parquet
folders without one (`jobs.tables`). Rows the model cannot score (a null input, a repeated transaction id) go to
DIR/scored_quarantine with the reason. Like the feature job, each run counts and validates its output before
replacing exactly the requested dates (one commit per table), and leaves a manifest in DIR/_runs/, a
self-contained HTML report in DIR/_reports/ and the validation's Data Docs pages in DIR/_data_docs/. With
scoring.sns_topic_arn set, the summary and the last day's top alerts are published to that SNS topic.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time
import uuid

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, functions as F

from conf import Config
from conf.redact import redact_text
from emr import clients, notify
from expectations.contracts import PARTITION_COLUMN, scored_contract, scoring_contract
from expectations.quarantine import (SOURCE_FILE, find_repeated_keys, quarantined_rows, valid_rows,
                                     with_quarantine_reason)
from jobs.build_features import MAX_REPEATED_KEYS_LISTED, LostRowsError, count_by_date, plan_dates
from jobs.common import (base_parser, build_session, configure_logging, iso_date, load_tracking_credentials, log,
                         parse_config, step)
from jobs.files import require_locations, table_path, write_text
from jobs.tables import ALERTS, FEATURES, SCORED, Table, exists, input_table, output_table, partitions, quarantine_of, read, read_all, \
    write_dates
from jobs.validation import validate_output
from models import anomaly, html_report, tracking
from models.scoring import alerts, score_transactions


def model_uri(config: Config, given: str | None) -> str:
    return given or config.scoring.model_uri or f"models:/{config.model.registered_name}@champion"


def output_tables(config: Config, output: str) -> dict[str, Table]:
    scored = output_table(config, table_path(output, "scored"), SCORED)
    return {"scored": scored, "alerts": output_table(config, table_path(output, "alerts"), ALERTS),
            "quarantine": quarantine_of(config, scored, SCORED)}


def write_outputs(spark, flagged: DataFrame, scored: DataFrame, tables: dict[str, Table], requested: list[dt.date],
                  run_id: str, reasons: int, has_quarantine: bool) -> dict[str, int | None]:
    """Write the scored rows, the day's queue made from them, and the quarantined rows (or, with none, remove the
    requested dates of an earlier run's): one commit each; their snapshot ids."""
    snapshots = {"scored": write_dates(scored, tables["scored"], requested, run_id, "score"),
                 "alerts": write_dates(alerts(scored, reasons), tables["alerts"], requested, run_id, "score")}
    if has_quarantine or exists(spark, tables["quarantine"]):
        snapshots["quarantine"] = write_dates(quarantined_rows(flagged).select("*", F.lit(run_id).alias("run_id")),
                                              tables["quarantine"], requested, run_id, "score")
    return snapshots


def run(spark: SparkSession, config: Config, features_table: str, output: str, start: dt.date,
        end: dt.date | None = None, given_model: str | None = None) -> dict:
    require_locations(spark, features_table, output)
    source, tables = input_table(spark, config, features_table, FEATURES), output_tables(config, output)
    started, run_id = time.perf_counter(), uuid.uuid4().hex[:12]
    scored_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    load_tracking_credentials(config)  # an HTTPS server's, from Secrets Manager
    tracking.use_experiment(config.tracking, config.aws.endpoint_url)
    with step("load model") as figures:
        model, ref = tracking.load(model_uri(config, given_model))
        inputs = model.stages[0].getInputCols()
        signals = anomaly.load_signals(ref.run_id) if config.anomaly.enabled else None
        figures.update(model=ref.uri, version=ref.version, anomaly_signals=signals is not None)
    columns = list(dict.fromkeys([*inputs, *(signals.inputs if signals else ())]))  # the model's and the signals'
    contract = scoring_contract(columns)
    with step("read and split") as figures:
        requested, to_read = plan_dates(partitions(spark, source), str(source), start, end or start,
                                        lookback=0, table_name=contract.name)
        rows = read(spark, source, to_read, contract, allow_extra_columns=True)
        flagged = with_quarantine_reason(rows, contract, find_repeated_keys(rows, "transaction_id",
                                                                            MAX_REPEATED_KEYS_LISTED))
        by_date, _ = count_by_date(flagged, requested, str(source), contract.name)
        rows_in = sum(r for r, _ in by_date.values())
        rows_quarantined = sum(q for _, q in by_date.values())
        figures.update(rows_in=rows_in, quarantined=rows_quarantined)
    valid = valid_rows(flagged).drop(SOURCE_FILE).select(*contract.columns, PARTITION_COLUMN)
    scored = score_transactions(valid, model, inputs, ref, scored_at, config.scoring, signals).repartition(
        config.spark.shuffle_partitions, PARTITION_COLUMN).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        with step("score") as figures:
            rows_out = scored.count() if rows_in > rows_quarantined else 0
            figures.update(rows_out=rows_out)
        if rows_out + rows_quarantined != rows_in:
            raise LostRowsError(f"{features_table} {requested[0]}..{requested[-1]}: {rows_in:,} rows in, "
                                f"{rows_out:,} scored, {rows_quarantined:,} quarantined")
        data_docs = None
        if config.validation.enabled and rows_out:
            with step("validate scored_transactions"):
                data_docs = validate_output(spark, scored, [scored_contract(columns, config.scoring.reasons,
                                                                            anomaly.SIGNALS if signals else ())],
                                            output, f"{requested[0]}_{requested[-1]}", run_id,
                                            data_docs=config.validation.data_docs)
        with step("write"):
            snapshots = write_outputs(spark, flagged, scored, tables, requested, run_id, config.scoring.reasons,
                                      rows_quarantined > 0)
    finally:
        scored.unpersist()
    in_run = F.col(PARTITION_COLUMN).between(F.lit(requested[0]), F.lit(requested[-1]))
    queue = read_all(spark, tables["alerts"]).where(in_run)
    summary = {
        "run_id": run_id, "first_date": str(requested[0]), "last_date": str(requested[-1]),
        "features_table": features_table, "model_uri": redact_text(ref.uri), "model_name": ref.name,
        "model_version": ref.version, "mlflow_run_id": ref.run_id, "rows_in": rows_in, "rows_scored": rows_out,
        "rows_quarantined": rows_quarantined, "alerts": queue.count(),
        "outcomes": {r["outcome"]: r["count"] for r in read_all(spark, tables["scored"]).where(in_run)
                     .groupBy("outcome").count().collect()},
        **({"snapshots": snapshots} if tables["scored"].iceberg else {}),
        **({"data_docs": data_docs} if data_docs else {}),
    }
    name = f"{requested[0]}_{requested[-1]}_{run_id}"
    with step("report"):
        summary["report"] = table_path(output, f"_reports/{name}.html")
        so_far = {**summary, "seconds": round(time.perf_counter() - started, 1)}  # the manifest's include the report
        write_text(spark, summary["report"], html_report.build(
            read_all(spark, tables["scored"]).where(in_run), queue, so_far, inputs, config.features))
    if config.scoring.sns_topic_arn:
        with step("notify"):
            top = [r.asDict() for r in queue.where(F.col(PARTITION_COLUMN) == F.lit(requested[-1]))
                   .orderBy("alert_rank").limit(config.scoring.notify_alerts).collect()]  # a few queue rows
            summary["notification"] = notify.publish(clients.client("sns", config.aws),
                                                     config.scoring.sns_topic_arn, summary, top)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write_text(spark, table_path(output, f"_runs/{name}.json"), json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud score --start-date 2018-09-30")
    parser.add_argument("--features", help="features table (default: paths.features)")
    parser.add_argument("--output", help="publish folder for scored/ and alerts/ (default: paths.publish)")
    parser.add_argument("--start-date", type=iso_date, required=True)
    parser.add_argument("--end-date", type=iso_date, help="default: the start date")
    parser.add_argument("--model", help="a model URI (default: scoring.model_uri or the registry's champion)")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    features, output = args.features or config.paths.features, args.output or config.paths.publish
    spark = build_session(config, uris=[features, output])
    summary = run(spark, config, features, output, args.start_date, args.end_date, args.model)
    log.info("score %s", summary)
    print("\n".join(f"{k:<18}{v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
