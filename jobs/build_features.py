"""Add the handbook's 14 windowed features to every transaction of the requested dates.

    spark-submit jobs/build_features.py --input RAW_TABLE --output FEATURES_TABLE [--start-date D --end-date D]
    fraud build-features --input data/raw/transactions --output data/features

Reads only the requested dates plus the look-back the longest window needs (from Parquet folders, or from the
catalog's Iceberg table when the input is one, e.g. `fraud ingest`'s output), routes rows that break the raw
contract to the table FEATURES_TABLE_quarantine (with the rule and the source file), and replaces exactly the
requested dates of the output, in one commit per table (`jobs.tables`). Every requested input row ends in the
output or in quarantine, and the job checks that it did before anything is written. Validation results go to
FEATURES_TABLE/_validation/ and their Data Docs pages to FEATURES_TABLE/_data_docs/, a run manifest (dates, counts,
quarantine reasons, snapshots) to FEATURES_TABLE/_runs/.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import sys
import uuid

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, functions as F, types as T

from conf import Config, FeaturesConf
from expectations.contracts import (PARTITION_COLUMN, RAW_TRANSACTIONS, ContractError, between, features_contract,
                                    not_null)
from expectations.quarantine import (CAST_REASON, REASON, SOURCE_FILE, find_repeated_keys, quarantined_rows,
                                     valid_rows, with_quarantine_reason)
from features import with_calendar_flags
from features.families import families_needing, family_bounds, with_windows_by_key
from features.families import lookback_days as family_lookback_days
from features.optional import AGE, DISTANCE, category_risk_names, with_category_risk
from jobs.common import base_parser, build_session, configure_logging, iso_date, log, parse_config, step
from jobs.files import Partition, read_text, require_locations, table_path, write_text
from jobs.tables import FEATURES, INGESTED, exists, input_table, output_table, partitions, quarantine_of, read, read_all, write_dates
from jobs.validation import validate_output


# Repeated transaction ids up to this many are handled by a filter on the list; more rank every row (a shuffle).
MAX_REPEATED_KEYS_LISTED = 10_000


class LostRowsError(RuntimeError):
    """Input rows of the requested dates are neither in the output nor in quarantine."""


SHAPE_FILE = "_shape.json"  # written by `fraud ingest` beside the raw table


def lookback_days(features: FeaturesConf) -> int:
    delayed = (*features.terminal_windows_days, *features.category_risk_windows_days)
    return max([0, *features.customer_windows_days, *(features.delay_days + n for n in delayed),
                family_lookback_days(features)])


def read_shape(spark: SparkSession, table: str) -> dict:
    """What `fraud ingest` recorded of the input's shape ({} for a table it did not write, e.g. the simulator's)."""
    text = read_text(spark, table_path(table, SHAPE_FILE))
    return json.loads(text) if text else {}


def plan_features(features: FeaturesConf, shape: dict, table: str) -> FeaturesConf:
    """The features this input can have: without card (terminal) ids the card (terminal) windows are skipped
    with a message rather than computed over ids that are not cards (terminals)."""
    for flag, windows, what in (("has_card_ids", "customer_windows_days", "customer_id_* (card)"),
                                ("has_terminal_ids", "terminal_windows_days", "terminal_id_* (terminal)")):
        if shape.get(flag, True) is False and getattr(features, windows):
            log.warning("%s has no %s ids (mapping %s: %s: false): skipping the %s features", table,
                        flag[4:-4], shape.get("mapping"), flag, what)
            features = dataclasses.replace(features, **{windows: ()})
    missing = {ids for ids in ("card", "terminal") if shape.get(f"has_{ids}_ids", True) is False}
    for switch in families_needing(missing, features):
        log.warning("%s has no %s ids: switching off features.%s", table, " or ".join(sorted(missing)), switch)
        features = dataclasses.replace(features, **{switch: type(getattr(features, switch))()})
    return features


def optional_names(features: FeaturesConf) -> list[str]:
    return [*([DISTANCE] if features.distance else []),
            *category_risk_names(features.category_risk_windows_days), *([AGE] if features.age else [])]


def with_optional_contract(contract, features: FeaturesConf):
    """The features contract plus the optional features switched on: not null, and a risk in [0, 1]."""
    fields, rules = list(contract.schema.fields), list(contract.row_rules)
    for name in optional_names(features):
        fields.append(T.StructField(name, T.DoubleType()))
        rules += [not_null(name), between(name, 0.0, 1.0 if "_risk_" in name else None,
                                          "is a share of frauds, so lies in [0, 1]" if "_risk_" in name
                                          else "must not be negative")]
    for bound in family_bounds(features):
        fields.append(T.StructField(bound.name, bound.spark_type))
        rules.append(not_null(bound.name))
        if bound.lower is not None or bound.upper is not None:
            rules.append(between(bound.name, bound.lower, bound.upper, f"lies in [{bound.lower}, {bound.upper}]"))
    return dataclasses.replace(contract, schema=T.StructType(fields), row_rules=tuple(rules))


def plan_dates(partitions: dict[dt.date, Partition], table: str, start: dt.date | None, end: dt.date | None,
               lookback: int, table_name: str = RAW_TRANSACTIONS.name) -> tuple[list[dt.date], list[Partition]]:
    """(requested dates, partitions to read). Without dates, every date that holds data is requested; a
    requested date without data is an error, since a silent gap would look like a quiet day."""
    with_data = sorted(d for d, p in partitions.items() if p.files)
    if not with_data:
        raise ContractError(table_name, table, None, "not_empty", "the table has no data files")
    if start is None and end is None:
        requested = with_data
    else:
        start, end = start or with_data[0], end or with_data[-1]
        if end < start:
            raise ValueError(f"--end-date {end} is before --start-date {start}")
        requested = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        missing = [d for d in requested if d not in with_data]
        if len(missing) == len(requested):
            raise ContractError(table_name, table, PARTITION_COLUMN, "dates_have_data",
                                f"no data for any date from {start} to {end}")
        if missing:
            shown = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ContractError(table_name, table, PARTITION_COLUMN, "dates_have_data",
                                f"{len(missing)} requested partition(s) missing or empty: {shown}")
    first_read = requested[0] - dt.timedelta(days=lookback)
    return requested, [p for d, p in sorted(partitions.items()) if first_read <= d <= requested[-1] and p.files]


def require_inputs(features: FeaturesConf, kept: list[str], table: str) -> None:
    """An optional feature switched on needs its kept column (passed through with allow_extra_columns): the
    category, or the distance and age the ingest job derived."""
    needed = [*([DISTANCE] if features.distance else ()),
              *([features.category_column] if features.category_risk_windows_days else ()),
              *([AGE] if features.age else ())]
    for column in needed:
        if column not in kept:
            raise ContractError(RAW_TRANSACTIONS.name, table, column, "required_column",
                                "an optional feature switched on needs it (and validation.allow_extra_columns)")


def transform(valid: DataFrame, features: FeaturesConf, groups: int) -> DataFrame:
    """Valid raw rows (requested dates and look-back) -> the same rows with the 14 features (those of the
    windows configured) and the optional features switched on."""
    out = valid.transform(with_windows_by_key, features, groups)
    if features.category_risk_windows_days:
        out = out.transform(with_category_risk, features.category_column, features.category_risk_windows_days,
                            features.delay_days, groups)
    return out.transform(with_calendar_flags, last_night_hour=features.night_last_hour)


def count_by_date(flagged: DataFrame, requested: list[dt.date], table: str,
                  table_name: str = RAW_TRANSACTIONS.name) -> tuple[dict, int]:
    """({requested date: (rows, quarantined)}, valid rows read in all) from one aggregate of one row a date.
    A requested date whose files hold no rows is refused like a missing one."""
    counts = {r[PARTITION_COLUMN]: (r["rows"], r["quarantined"]) for r in flagged.groupBy(PARTITION_COLUMN).agg(
        F.count(F.lit(1)).alias("rows"), F.count(REASON).alias("quarantined")).collect()}
    empty = [d for d in requested if d not in counts]
    if empty:
        raise ContractError(table_name, table, PARTITION_COLUMN, "dates_have_data",
                            f"requested partition(s) with files but no rows: {', '.join(map(str, empty[:5]))}")
    valid_read = sum(rows - quarantined for rows, quarantined in counts.values())
    return {d: counts[d] for d in requested}, valid_read


def rows_out_expected(by_date: dict) -> bool:
    return any(rows > quarantined for rows, quarantined in by_date.values())


def run(spark: SparkSession, config: Config, input_path: str, output_path: str, start: dt.date | None = None,
        end: dt.date | None = None) -> dict:
    require_locations(spark, input_path, output_path)
    source = input_table(spark, config, input_path, INGESTED)
    target = output_table(config, output_path, FEATURES)
    quarantine = quarantine_of(config, target, FEATURES)
    features = plan_features(config.features, read_shape(spark, input_path), input_path)
    contract = with_optional_contract(features_contract(features.customer_windows_days,
                                                        features.terminal_windows_days), features)
    run_id = uuid.uuid4().hex[:12]
    with step("plan") as figures:
        requested, to_read = plan_dates(partitions(spark, source), str(source), start, end, lookback_days(features))
        figures.update(first=str(requested[0]), last=str(requested[-1]), partitions_read=len(to_read))
    in_requested = F.col(PARTITION_COLUMN).between(F.lit(requested[0]), F.lit(requested[-1]))
    suffix = f"{requested[0]}_{requested[-1]}"

    with step("read and split") as figures:
        allow_extra = config.validation.allow_extra_columns
        raw = read(spark, source, to_read, RAW_TRANSACTIONS, allow_extra, keep_extra=allow_extra)
        kept = [c for c in raw.columns
                if c not in (*RAW_TRANSACTIONS.columns, PARTITION_COLUMN, SOURCE_FILE, CAST_REASON)]
        require_inputs(features, kept, input_path)
        kept = [c for c in kept if c not in contract.columns]  # a derived input the contract already names
        repeated = find_repeated_keys(raw, RAW_TRANSACTIONS.unique_key, MAX_REPEATED_KEYS_LISTED)
        flagged = with_quarantine_reason(raw, RAW_TRANSACTIONS, repeated)
        by_date, valid_read = count_by_date(flagged, requested, str(source))
        rows_in = sum(rows for rows, _ in by_date.values())
        rows_quarantined = sum(quarantined for _, quarantined in by_date.values())
        figures.update(rows_in=rows_in, quarantined=rows_quarantined, valid_rows_read=valid_read)
    valid = valid_rows(flagged).drop(SOURCE_FILE)

    # computed once and kept (memory, then local disk): counted and validated before the write, so a table never
    # receives rows that failed, and written from the same rows
    with step("features") as figures:
        groups = max(1, math.ceil(valid_read / features.rows_per_group))
        out = (
            transform(valid, features, groups).where(in_requested)
            .select(*contract.columns, *kept, PARTITION_COLUMN)
            .repartition(config.spark.shuffle_partitions, PARTITION_COLUMN)  # one task, so one file, per date
        ).persist(StorageLevel.MEMORY_AND_DISK)
        rows_out = out.count() if rows_out_expected(by_date) else 0
        figures.update(rows_out=rows_out, groups=groups)
    try:
        if rows_out + rows_quarantined != rows_in:
            raise LostRowsError(f"{input_path} {suffix}: {rows_in:,} rows in, {rows_out:,} out, "
                                f"{rows_quarantined:,} quarantined")
        data_docs = None
        if config.validation.enabled and rows_out:
            # the accepted input rows of the requested dates are the raw columns of the output
            with step(f"validate {RAW_TRANSACTIONS.name} (accepted rows) and {contract.name}"):
                data_docs = validate_output(spark, out, [RAW_TRANSACTIONS, contract], output_path, suffix, run_id,
                                            data_docs=config.validation.data_docs)
        with step("write") as figures:
            snapshots = {"features": write_dates(out, target, requested, run_id, "build_features")}
            if rows_quarantined or exists(spark, quarantine):
                snapshots["quarantine"] = write_dates(quarantined_rows(flagged).where(in_requested).select(
                    "*", F.lit(run_id).alias("run_id")), quarantine, requested, run_id, "build_features")
            figures["dates"] = len(requested)
    finally:
        out.unpersist()
    reasons = {}
    if rows_quarantined:
        reasons = {r[REASON]: r["count"] for r in read_all(spark, quarantine).where(
            F.col("run_id") == run_id).groupBy(REASON).count().collect()}
    summary = {"run_id": run_id, "first_date": str(requested[0]), "last_date": str(requested[-1]),
               "rows_in": rows_in, "rows_out": rows_out, "rows_quarantined": rows_quarantined,
               "quarantine_reasons": reasons, "table": str(target),
               **({"snapshots": snapshots} if target.iceberg else {}),
               **({"data_docs": data_docs} if data_docs else {})}
    write_text(spark, table_path(output_path, f"_runs/{suffix}_{run_id}.json"), json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud build-features --start-date 2018-09-24 --end-date 2018-09-30")
    parser.add_argument("--input", help="raw transactions table (default: <paths.raw>/transactions)")
    parser.add_argument("--output", help="features table (default: paths.features)")
    parser.add_argument("--start-date", type=iso_date)
    parser.add_argument("--end-date", type=iso_date)
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    input_path, output_path = args.input or table_path(config.paths.raw, "transactions"), \
        args.output or config.paths.features
    spark = build_session(config, uris=[input_path, output_path])
    summary = run(spark, config, input_path, output_path, args.start_date, args.end_date)
    log.info("features %s", summary)
    print("\n".join(f"{k:<18}{v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
