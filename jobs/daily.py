"""The nightly job: one day of transactions from the raw table to the investigators' queue, on one Spark session.

    fraud daily [--date D | --from D1 --to D2] [--config ...] [--set section.key=value ...]
    spark-submit jobs/daily.py [--date D]

For day D (default: the latest date of the raw table `paths.raw/transactions`): the features of D (reading its
look-back days) -> the scores and alert queue of D with the registry's champion -> the monitoring of D (drift) and
of D minus the label delay, whose labels have matured (quality) -> with an Iceberg catalog, snapshot expiry and
orphan-file removal -> with the tables on S3, their registration in the Glue Data Catalog. The scoring and
monitoring jobs send their SNS messages when topics are configured. With `retrain.with_daily` the day ends with
`fraud retrain --if-due`, and with `retrain.on_drift` a degraded day retrains at once: the new model scores the
next day if it passed the champion/challenger gate. One summary at the end.

Each stage replaces exactly the dates it writes, so re-running D (e.g. after late data landed in its raw
partition) replaces D and nothing else. A raw partition for D that is missing or empty stops the job before
anything is written. `--from D1 --to D2` runs the days in date order, one progress line a day.
"""
from __future__ import annotations

import datetime as dt
import sys
import time

from pyspark.sql import SparkSession

from conf import Config
from conf.storage import is_s3
from emr import clients
from expectations.contracts import PARTITION_COLUMN, RAW_TRANSACTIONS, ContractError
from jobs import build_features, maintain, monitor, score
from jobs.common import base_parser, build_session, configure_logging, iso_date, log, parse_config
from jobs.files import list_partitions, table_path


def raw_dates(spark: SparkSession, config: Config) -> list[dt.date]:
    """The raw table's dates that hold data files."""
    return sorted(d for d, p in list_partitions(spark, table_path(config.paths.raw, "transactions")).items()
                  if p.files)


def days_to_run(available: list[dt.date], table: str, day: dt.date | None, first: dt.date | None,
                last: dt.date | None) -> list[dt.date]:
    """The days asked for, each of which must have raw data (checked before any is run)."""
    if not available:
        raise ContractError(RAW_TRANSACTIONS.name, table, None, "not_empty", "the table has no data files")
    if first or last:
        if day:
            raise ValueError("give --date or --from/--to, not both")
        first, last = first or last, last or first
        if last < first:
            raise ValueError(f"--to {last} is before --from {first}")
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    else:
        days = [day or available[-1]]
    missing = [d for d in days if d not in available]
    if missing:
        raise ContractError(RAW_TRANSACTIONS.name, table, PARTITION_COLUMN, "dates_have_data",
                            f"no raw data for {', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''}"
                            f" (a missing or empty partition {PARTITION_COLUMN}=D): nothing was written")
    return days


def run_day(spark: SparkSession, config: Config, day: dt.date) -> dict:
    """Features, scores, monitoring (and maintenance, publication) of one day: a summary of each stage."""
    paths, started = config.paths, time.perf_counter()
    features = build_features.run(spark, config, table_path(paths.raw, "transactions"), paths.features, day, day)
    scored = score.run(spark, config, paths.features, paths.publish, day, day)
    monitored = monitor.run(spark, config, paths.publish, day, day, as_of=day)
    results = {"features": features, "scored": scored, "monitored": monitored}
    drifted = config.retrain.on_drift and str(day) in monitored["degraded_days"]
    if config.retrain.with_daily or drifted:
        from jobs import retrain  # MLflow's training stack only when a retrain may run

        results["retrained"] = retrain.run(spark, config, paths.features, paths.training, day, if_due=not drifted)
    if config.catalog.kind:
        results["maintained"] = maintain.run(spark, config)
    if is_s3(paths.publish):
        from jobs import publish  # boto3's Glue client only where there is a catalog to register in

        results["published"] = publish.run(spark, config, config.emr.glue_database,
                                           clients.client("glue", config.aws))
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def day_line(day: dt.date, results: dict) -> str:
    """One line a day: rows, alerts, the monitoring status, the time."""
    scored, monitored = results["scored"], results["monitored"]
    status = "degraded " + ", ".join(monitored["degraded_days"]) if monitored["degraded_days"] else "ok"
    retrained = results.get("retrained")
    model = ("" if retrained is None else ", retrain not due" if not retrained["retrained"] else
             f", retrained v{retrained['registered_model']['version']} ({retrained['registered_model']['alias']})")
    return (f"{day}: {scored['rows_scored']:,} scored, {scored['rows_quarantined']:,} quarantined, "
            f"{scored['alerts']:,} alerts, monitoring {status}{model}, {results['seconds']:.1f} s")


def run(spark: SparkSession, config: Config, day: dt.date | None = None, first: dt.date | None = None,
        last: dt.date | None = None) -> dict[dt.date, dict]:
    """Every day asked for, in date order: {day: its stages' summaries}."""
    table = table_path(config.paths.raw, "transactions")
    days = days_to_run(raw_dates(spark, config), table, day, first, last)
    done = {}
    for number, one in enumerate(days, start=1):
        done[one] = run_day(spark, config, one)
        log.info("daily %d/%d %s", number, len(days), day_line(one, done[one]))
    return done


def report(config: Config, done: dict[dt.date, dict]) -> str:
    """What the job prints: a line a day, then where the last day's outputs went."""
    last = done[max(done)]
    return "\n".join([
        *(day_line(day, results) for day, results in sorted(done.items())),
        f"\nscores and queue   {config.paths.publish}/scored, /alerts (model {last['scored']['model_name']} "
        f"version {last['scored']['model_version']})",
        f"scoring report     {last['scored']['report']}",
        f"monitoring report  {last['monitored']['report']}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud daily --date 2018-09-30")
    parser.add_argument("--date", type=iso_date, help="the day to run (default: the raw table's latest date)")
    parser.add_argument("--from", dest="first", type=iso_date, help="the first day of a backfill")
    parser.add_argument("--to", dest="last", type=iso_date, help="the last day of a backfill (default: --from)")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    started = time.perf_counter()
    done = run(build_session(config), config, args.date, args.first, args.last)
    print(report(config, done))
    print(f"\nwall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
