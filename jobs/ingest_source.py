"""Ingest transactions in another shape (CSV or Parquet, local or s3://) into our raw transactions table.

    spark-submit jobs/ingest_source.py --input PATH --mapping FILE --output DIR [--config FILE --set k=v ...]
    fraud ingest --input fraudTrain.csv --mapping conf/mappings/sparkov.yaml --output data/sparkov

Applies the declarative mapping (`ingest.mapping`; shipped ones in conf/mappings/), checks every row against the
raw-transactions contract and routes the rows that fail (an unparseable value, a missing key, a bad amount or
label, a second copy of an id) to the table DIR/transactions_quarantine with the reason, the source file, the row's
position in it and the source row (card numbers masked, personal fields left out: `ingest.sensitive`). A mapping
that derives an id with `keyed_hash` (a card number) needs the card id key: from the environment variable
`ingest.card_key_env` or the AWS Secrets Manager secret `ingest.card_key_secret`, never from a file. Valid rows go to the table DIR/transactions (Iceberg in the config's catalog, or Parquet folders
without one: `jobs.tables`), partitioned by date: the dates of this file are replaced in one commit, and so are
its rejected rows (a re-run of the same file replaces them, rows without a date included). The job checks that
input rows = written rows + quarantined rows before anything is written. What the feature job needs to know of
the shape (card and terminal ids present, kept columns) goes to DIR/transactions/_shape.json; a run manifest to
DIR/_runs/, the validation results to DIR/_validation/ and their Data Docs pages to DIR/_data_docs/.

Not `jobs/ingest.py`: spark-submit puts the script's folder first on the path, where that name would hide the
`ingest` package (emr/package.py builds it as `entrypoints/ingest_source.py`, the EMR step `ingest`).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, functions as F

from conf import Config
from expectations.contracts import PARTITION_COLUMN, RAW_TRANSACTIONS, ContractError
from expectations.quarantine import REASON, find_repeated_keys, with_quarantine_reason
from ingest.mapping import Mapping, check_sources, load_mapping
from ingest.sensitive import MIN_KEY_BYTES
from ingest.transform import (PARSE_REASON, RAW_COLUMNS, SCAN_ROW, SOURCE_FILE, SOURCE_OFFSET, SOURCE_ROW,
                              apply_mapping, with_event_time)
from jobs.build_features import MAX_REPEATED_KEYS_LISTED, SHAPE_FILE, LostRowsError
from jobs.common import base_parser, build_session, configure_logging, log, parse_config, step
from jobs.files import require_locations, table_path, write_text
from jobs.tables import INGESTED, Table, exists, output_table, quarantine_of, read_all, use_catalog, write_dates
from jobs.validation import validate_output

SOURCE_ROW_NUMBER = "source_row_number"  # the row's number among the data rows of its file's block (1 = first)


class CardKeyError(ValueError):
    """The card id key is missing or too short; the message says where it was looked for."""


def card_key(config: Config) -> bytes:
    """The secret of the keyed card id: the environment variable, or the Secrets Manager secret when configured
    (its SecretString). Hex text (e.g. `openssl rand -hex 32`) is decoded; other text is taken as its bytes."""
    settings = config.ingest
    if settings.card_key_secret:
        from emr.clients import client  # boto3 only where a secret is configured

        where = f"the AWS Secrets Manager secret {settings.card_key_secret}"
        text = client("secretsmanager", config.aws).get_secret_value(SecretId=settings.card_key_secret)["SecretString"]
    else:
        where = f"the environment variable {settings.card_key_env}"
        text = os.environ.get(settings.card_key_env, "")
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise CardKeyError(f"the card id key from {where} is {'missing' if not key else f'{len(key)} bytes'}: the "
                        f"mapping hashes card numbers with a secret key of at least {MIN_KEY_BYTES} bytes (e.g. "
                        f"`export {settings.card_key_env}=$(openssl rand -hex 32)`, kept in a secret store; the "
                        f"same key gives the same card ids on every run)")
    return key



def read_source(spark: SparkSession, path: str, mapping: Mapping) -> DataFrame:
    """Every source column as read (CSV: all text, so that a bad value is reported, not silently nulled)."""
    name = path.lower().rstrip("/")
    by_name = "csv" if name.endswith((".csv", ".csv.gz")) else "parquet" if name.endswith(".parquet") else None
    fmt = by_name or mapping.format or "parquet"  # the file's own extension wins; a folder: the mapping's format
    if fmt == "csv":
        reader = spark.read.option("header", True).option("inferSchema", False).option("mode", "PERMISSIVE")
        df = reader.option("sep", mapping.csv_delimiter).option("escape", '"').csv(path)
    else:
        df = spark.read.parquet(path)
    return df.select("*", F.input_file_name().alias(SOURCE_FILE), F.input_file_block_start().alias(SOURCE_OFFSET),
                     F.monotonically_increasing_id().alias(SCAN_ROW))


def time_origin(mapped: DataFrame, config: Config) -> dt.date:
    if config.ingest.time_origin is not None:
        return config.ingest.time_origin
    first = mapped.agg(F.min(PARTITION_COLUMN)).first()[0]  # one-row aggregate
    return first or dt.date(1970, 1, 1)


def flag(mapped: DataFrame) -> DataFrame:
    """The contract's row rules (and a repeated id) with the mapping's parse failures in front."""
    repeated = find_repeated_keys(mapped, RAW_TRANSACTIONS.unique_key, MAX_REPEATED_KEYS_LISTED)
    flagged = with_quarantine_reason(mapped, RAW_TRANSACTIONS, repeated)
    reason = F.concat_ws("; ", F.col(PARSE_REASON), F.col(REASON))
    return flagged.select(*[c for c in flagged.columns if c not in (REASON, PARSE_REASON)],
                          F.nullif(reason, F.lit("")).alias(REASON))


def rejected(spark, flagged: DataFrame, mapping: Mapping, quarantine: Table, run_id: str) -> DataFrame:
    """This run's rejected rows, and the rows without a date that earlier runs rejected from other files: the
    quarantine's rows of this run's dates and its undated rows are replaced together."""
    block = [SOURCE_FILE, SOURCE_OFFSET]
    # a block's rows are read in order by one task: the row's number is its distance from the block's first row
    starts = flagged.groupBy(*block).agg(F.min(SCAN_ROW).alias("_first_row"))  # one row a file block
    bad = flagged.where(F.col(REASON).isNotNull()).join(F.broadcast(starts), on=block, how="left").select(
        REASON, SOURCE_FILE, SOURCE_OFFSET, (F.col(SCAN_ROW) - F.col("_first_row") + 1).alias(SOURCE_ROW_NUMBER),
        SOURCE_ROW, *RAW_COLUMNS, *mapping.kept_columns, PARTITION_COLUMN, F.lit(run_id).alias("run_id"))
    if not exists(spark, quarantine):
        return bad
    sources = [r[0] for r in flagged.select(SOURCE_FILE).distinct().collect()]  # the input's files
    kept = read_all(spark, quarantine).where(F.col(PARTITION_COLUMN).isNull() & ~F.col(SOURCE_FILE).isin(sources))
    if not quarantine.iceberg:
        kept = kept.localCheckpoint()  # a Parquet folder cannot be overwritten by a plan that reads it
    return bad.unionByName(kept, allowMissingColumns=True)


def run(spark: SparkSession, config: Config, input_path: str, mapping_file: str, output: str) -> dict:
    require_locations(spark, input_path, output)
    run_id = uuid.uuid4().hex[:12]
    mapping = load_mapping(mapping_file)
    key = card_key(config) if mapping.needs_key else None
    use_catalog(spark, config)
    target = output_table(config, table_path(output, "transactions"), INGESTED)
    quarantine = quarantine_of(config, target, INGESTED)
    with step("read and map") as figures:
        source = read_source(spark, input_path, mapping)
        check_sources(mapping, source.columns, input_path)
        mapped = apply_mapping(source, mapping, key)
        origin = time_origin(mapped, config)
        flagged = flag(with_event_time(mapped, origin)).persist(StorageLevel.MEMORY_AND_DISK)
        rows_in = source.count()
        counts = {r[PARTITION_COLUMN]: (r["rows"], r["bad"]) for r in flagged.groupBy(PARTITION_COLUMN).agg(
            F.count(F.lit(1)).alias("rows"), F.count(REASON).alias("bad")).collect()}  # one row a date
        rows_quarantined = sum(bad for _, bad in counts.values())
        rows_out = sum(rows - bad for rows, bad in counts.values())
        dates = sorted(d for d, (rows, bad) in counts.items() if d is not None and rows > bad)
        figures.update(rows_in=rows_in, rows_out=rows_out, quarantined=rows_quarantined, dates=len(dates),
                       origin=str(origin))
    try:
        if rows_out + rows_quarantined != rows_in:
            raise LostRowsError(f"{input_path}: {rows_in:,} rows in, {rows_out:,} valid, {rows_quarantined:,} "
                                f"rejected")
        valid = flagged.where(F.col(REASON).isNull()).select(*RAW_COLUMNS, *mapping.kept_columns, PARTITION_COLUMN)
        data_docs = None
        if config.validation.enabled and dates:
            with step(f"validate {RAW_TRANSACTIONS.name}"):
                data_docs = validate_output(spark, valid, [RAW_TRANSACTIONS], output, f"ingest_{dates[0]}_{dates[-1]}",
                                            run_id, data_docs=config.validation.data_docs)
        with step("write") as figures:
            snapshots = {}
            if dates:
                snapshots["transactions"] = write_dates(
                    valid.repartition(config.spark.shuffle_partitions, PARTITION_COLUMN), target, dates, run_id,
                    "ingest")
            if rows_quarantined or exists(spark, quarantine):
                touched = sorted(d for d in counts if d is not None)
                snapshots["quarantine"] = write_dates(rejected(spark, flagged, mapping, quarantine, run_id),
                                                      quarantine, touched, run_id, "ingest",
                                                      replace=F.col(PARTITION_COLUMN).isNull())
            figures["dates"] = len(dates)
        reasons = reason_counts(flagged.where(F.col(REASON).isNotNull())) if rows_quarantined else {}
    finally:
        flagged.unpersist()
    if not dates:
        raise ContractError(RAW_TRANSACTIONS.name, input_path, REASON, "valid_rows",
                            f"none of its {rows_in:,} rows is valid: they are in {quarantine} with their reasons "
                            f"({reasons})")
    shape = {"mapping": mapping.name, "has_card_ids": mapping.has_card_ids,
             "has_terminal_ids": mapping.has_terminal_ids, "kept_columns": mapping.kept_columns,
             "time_origin": str(origin)}
    write_text(spark, table_path(target.location, SHAPE_FILE), json.dumps(shape, indent=2))
    summary = {"run_id": run_id, "input": input_path, "mapping": mapping.path, "first_date": str(dates[0]),
               "last_date": str(dates[-1]), "rows_in": rows_in, "rows_out": rows_out,
               "rows_quarantined": rows_quarantined, "quarantine_reasons": reasons, **shape, "table": str(target),
               **({"snapshots": snapshots} if target.iceberg else {}),
               **({"data_docs": data_docs} if data_docs else {})}
    write_text(spark, table_path(output, f"_runs/ingest_{run_id}.json"), json.dumps(summary, indent=2))
    return summary


def reason_counts(bad: DataFrame) -> dict[str, int]:
    return {r[REASON]: r["count"] for r in bad.groupBy(REASON).count().collect()}  # one row a reason


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud ingest --input fraudTrain.csv --mapping sparkov --output data/sparkov")
    parser.add_argument("--input", required=True, help="a CSV or Parquet file or folder (local or s3://)")
    parser.add_argument("--mapping", required=True, help="a mapping file, or a shipped one's name (sparkov, ...)")
    parser.add_argument("--output", required=True, help="folder for the tables transactions and "
                                                         "transactions_quarantine")
    args = parser.parse_args(argv)
    config = parse_config(args)
    if load_mapping(args.mapping).needs_key:  # a bad mapping or a missing key fails before a session starts
        card_key(config)
    configure_logging()
    spark = build_session(config, uris=[args.input, args.output])
    summary = run(spark, config, args.input, args.mapping, args.output)
    log.info("ingest %s", summary)
    print("\n".join(f"{k:<18}{v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
