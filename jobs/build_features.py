"""Add the handbook's 14 windowed features to every transaction of the requested dates.

    spark-submit jobs/build_features.py --input RAW_TABLE --output FEATURES_TABLE [--start-date D --end-date D]
    fraud build-features --input data/raw/transactions --output data/features

Reads only the requested dates plus the look-back the longest window needs, routes rows that break the raw
contract to FEATURES_TABLE/_quarantine/ (with the rule and the source file), and replaces exactly the requested
date partitions of the output. Every requested input row ends in the output or in quarantine, and the job
checks that it did. Validation results go to FEATURES_TABLE/_validation/.
"""
from __future__ import annotations

import datetime as dt
import math
import sys
import uuid

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, functions as F

from conf import Config, FeaturesConf
from expectations.contracts import PARTITION_COLUMN, RAW_TRANSACTIONS, ContractError, features_contract
from expectations.quarantine import (REASON, SOURCE_FILE, file_column_counts, quarantined_rows,
                                     require_columns_in_every_file, valid_rows, with_quarantine_reason)
from expectations.suites import validate
from features import with_calendar_flags, with_customer_spending_windows, with_terminal_risk
from jobs.common import base_parser, build_session, configure_logging, iso_date, log, parse_config, step
from jobs.tables import (Partition, list_partitions, read_partitions, remove_partitions, table_path,
                         write_partitioned)


class LostRowsError(RuntimeError):
    """Input rows of the requested dates are neither in the output nor in quarantine."""


def lookback_days(features: FeaturesConf) -> int:
    return max(max(features.customer_windows_days), features.delay_days + max(features.terminal_windows_days))


def plan_dates(partitions: dict[dt.date, Partition], table: str, start: dt.date | None, end: dt.date | None,
               lookback: int) -> tuple[list[dt.date], list[Partition]]:
    """(requested dates, partitions to read). Without dates, every date that holds data is requested; a
    requested date without data is an error, since a silent gap would look like a quiet day."""
    with_data = sorted(d for d, p in partitions.items() if p.files)
    if not with_data:
        raise ContractError(RAW_TRANSACTIONS.name, table, None, "not_empty", "the table has no data files")
    if start is None and end is None:
        requested = with_data
    else:
        start, end = start or with_data[0], end or with_data[-1]
        if end < start:
            raise ValueError(f"--end-date {end} is before --start-date {start}")
        requested = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        missing = [d for d in requested if d not in with_data]
        if len(missing) == len(requested):
            raise ContractError(RAW_TRANSACTIONS.name, table, PARTITION_COLUMN, "dates_have_data",
                                f"no data for any date from {start} to {end}")
        if missing:
            shown = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ContractError(RAW_TRANSACTIONS.name, table, PARTITION_COLUMN, "dates_have_data",
                                f"{len(missing)} requested partition(s) missing or empty: {shown}")
    first_read = requested[0] - dt.timedelta(days=lookback)
    return requested, [p for d, p in sorted(partitions.items()) if first_read <= d <= requested[-1] and p.files]


def transform(valid: DataFrame, features: FeaturesConf, groups: int) -> DataFrame:
    """Valid raw rows (requested dates and look-back) -> the same rows with the 14 features."""
    return (
        valid.transform(with_calendar_flags, last_night_hour=features.night_last_hour)
        .transform(with_customer_spending_windows, features.customer_windows_days, groups)
        .transform(with_terminal_risk, features.terminal_windows_days, features.delay_days, groups)
    )


def run(spark: SparkSession, config: Config, input_table: str, output_table: str, start: dt.date | None = None,
        end: dt.date | None = None) -> dict:
    contract = features_contract(config.features.customer_windows_days, config.features.terminal_windows_days)
    run_id = uuid.uuid4().hex[:12]
    with step("plan") as figures:
        requested, to_read = plan_dates(list_partitions(spark, input_table), input_table, start, end,
                                        lookback_days(config.features))
        figures.update(first=str(requested[0]), last=str(requested[-1]), partitions_read=len(to_read))
    in_requested = F.col(PARTITION_COLUMN).between(F.lit(requested[0]), F.lit(requested[-1]))

    with step("read and split") as figures:
        raw = read_partitions(spark, input_table, to_read, RAW_TRANSACTIONS, config.validation.allow_extra_columns)
        flagged = with_quarantine_reason(raw, RAW_TRANSACTIONS).persist(StorageLevel.MEMORY_AND_DISK)
        require_columns_in_every_file(file_column_counts(flagged, RAW_TRANSACTIONS), RAW_TRANSACTIONS)
        by_date = flagged.where(in_requested).groupBy(PARTITION_COLUMN).agg(
            F.count(F.lit(1)).alias("rows"), F.count(REASON).alias("quarantined")).collect()
        rows_in = sum(r["rows"] for r in by_date)
        rows_quarantined = sum(r["quarantined"] for r in by_date)
        valid_read = flagged.where(F.col(REASON).isNull()).count()
        figures.update(rows_in=rows_in, quarantined=rows_quarantined, valid_rows_read=valid_read)
    suffix = f"{requested[0]}_{requested[-1]}"
    if config.validation.enabled:
        with step("validate raw_transactions") as figures:
            report = validate(flagged.where(in_requested), RAW_TRANSACTIONS)
            report.write(table_path(output_table, f"_validation/{RAW_TRANSACTIONS.name}_{suffix}.json"))
            figures["failed_expectations"] = len(report.failures)

    with step("features") as figures:
        groups = max(1, math.ceil(valid_read / config.features.rows_per_group))
        valid = valid_rows(flagged).drop(SOURCE_FILE)
        out = transform(valid, config.features, groups).where(in_requested).select(
            *contract.columns, PARTITION_COLUMN).persist(StorageLevel.MEMORY_AND_DISK)
        rows_out = out.count()
        figures.update(rows_out=rows_out, groups=groups)
    if rows_out + rows_quarantined != rows_in:
        raise LostRowsError(f"{input_table} {suffix}: {rows_in:,} rows in, {rows_out:,} out, "
                            f"{rows_quarantined:,} quarantined")
    if config.validation.enabled:
        with step(f"validate {contract.name}") as figures:
            report = validate(out, contract)
            report.write(table_path(output_table, f"_validation/{contract.name}_{suffix}.json"))
            figures["success"] = report.success
            if not report.success:
                raise ContractError(contract.name, output_table, None, "suite", "; ".join(report.failures))

    with step("write") as figures:
        quarantine_table = table_path(output_table, "_quarantine")
        write_partitioned(out, output_table)
        quarantine = quarantined_rows(flagged).where(in_requested).select("*", F.lit(run_id).alias("run_id"))
        write_partitioned(quarantine, quarantine_table)
        # dates that now have no rows would otherwise keep an earlier run's partition
        kept = {r[PARTITION_COLUMN]: r for r in by_date}
        remove_partitions(spark, output_table, [d for d in requested if kept[d]["rows"] == kept[d]["quarantined"]])
        remove_partitions(spark, quarantine_table, [d for d in requested if kept[d]["quarantined"] == 0])
        figures["dates"] = len(requested)
    reasons = {}
    if rows_quarantined:
        reasons = {r[REASON]: r["count"] for r in
                   flagged.where(in_requested & F.col(REASON).isNotNull()).groupBy(REASON).count().collect()}
    flagged.unpersist()
    out.unpersist()
    return {"run_id": run_id, "first_date": str(requested[0]), "last_date": str(requested[-1]),
            "rows_in": rows_in, "rows_out": rows_out, "rows_quarantined": rows_quarantined,
            "quarantine_reasons": reasons}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--input", help="raw transactions table (default: <paths.raw>/transactions)")
    parser.add_argument("--output", help="features table (default: paths.features)")
    parser.add_argument("--start-date", type=iso_date)
    parser.add_argument("--end-date", type=iso_date)
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    spark = build_session(config)
    summary = run(spark, config, args.input or table_path(config.paths.raw, "transactions"),
                  args.output or config.paths.features, args.start_date, args.end_date)
    log.info("features %s", summary)
    print("\n".join(f"{k:<18}{v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
