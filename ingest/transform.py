"""The mapping as pure DataFrame transforms: source rows (every column as read) -> raw transaction rows with
our names and types, the kept extra columns, the partition date, the source row (for the quarantine: card numbers
masked, personal fields left out, `ingest.sensitive`) and the reasons a source value could not be parsed. No reads,
writes or actions here.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, functions as F

from ingest.mapping import ColumnSpec, Mapping, MappingError
from ingest.sensitive import ID_MASK, age_in_years, digits, haversine_km, keyed_id, masked_card_number

PARSE_REASON = "_parse_reason"
SOURCE_ROW = "source_row"
SOURCE_FILE = "source_file"
# where a row was read: the byte offset of the file's block Spark read it from (0 unless a big file was split) and
# the row's number in its scan task (monotonically_increasing_id); the ingest job turns them into a row number
SOURCE_OFFSET = "source_offset"
SCAN_ROW = "_scan_row"
READ_COLUMNS = (SOURCE_FILE, SOURCE_OFFSET, SCAN_ROW)
PARTITION = "tx_date"
SECONDS_PER_DAY = 86_400
# the raw table's columns in the contract's order (expectations.contracts.RAW_TRANSACTIONS)
RAW_COLUMNS = ("transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_time_seconds",
               "tx_time_days", "tx_fraud", "tx_fraud_scenario")


def stable_id(*columns: Column) -> Column:
    """A non-negative 63-bit id from the text of `columns` (Spark's xxhash64, the same on every run and machine).
    Null when every input is null or blank, so a missing key is reported as missing, not hashed to a constant."""
    texts = [F.nullif(F.trim(c.cast("string")), F.lit("")) for c in columns]
    hashed = F.xxhash64(*texts).bitwiseAND(F.lit(ID_MASK))
    return F.when(F.coalesce(*texts).isNotNull(), hashed)


def _blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column.cast("string")) == "")


def parsed(spec: ColumnSpec, source: Column) -> Column:
    """The source value as the spec's type; null when it cannot be parsed."""
    text = F.nullif(F.trim(source.cast("string")), F.lit(""))
    if spec.type == "timestamp":
        if spec.unit == "epoch_seconds":
            value = F.timestamp_micros(F.round(text.cast("double") * 1_000_000).cast("long"))
        elif spec.unit == "seconds_since_origin":
            origin_micros = int(spec.origin.replace(tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
            value = F.timestamp_micros(F.round(text.cast("double") * 1_000_000).cast("long") + F.lit(origin_micros))
        elif spec.format:
            value = F.try_to_timestamp(text, F.lit(spec.format))
        else:
            value = source.cast("timestamp")
        return value if spec.time_zone == "UTC" else F.to_utc_timestamp(value, spec.time_zone)
    if spec.type == "date" and spec.format:
        return F.to_date(text, spec.format)
    if spec.type in ("int", "long"):
        # "1.0" is a whole number written by a tool that stores numbers as doubles; "1.5" is not an id or a flag
        number = text.cast("double")
        return F.when(number == F.floor(number), number.cast(spec.type))
    return (text if spec.type == "string" else text.cast(spec.type))


def _value(spec: ColumnSpec, present: set[str], row_id: Column, key: bytes | None, sensitive: dict[str, str],
           tx_datetime: Column | None = None) -> tuple[Column, Column | None]:
    """(the column, its parse failure or None); `tx_datetime`: the row's parsed time, for derive age_years."""
    if spec.derive == "hash":
        return stable_id(F.col(spec.source)), None
    if spec.derive == "keyed_hash":
        text = F.col(spec.source).cast("string")
        normal = digits(text) if sensitive.get(spec.source) == "card_number" else F.nullif(F.trim(text), F.lit(""))
        return keyed_id(normal, key), None
    if spec.derive == "age_years":
        birth = parsed(ColumnSpec(target=spec.target, source=spec.source, type="date", format=spec.format),
                       F.col(spec.source))
        shown = f" with format {spec.format!r}" if spec.format else ""
        reason = F.when(~_blank(F.col(spec.source)) & birth.isNull(),
                        F.lit(f"parse({spec.target}): {spec.source} is not a date{shown}"))
        return age_in_years(birth, F.to_date(tx_datetime)).cast("double"), reason
    if spec.derive == "distance_km":
        points = [parsed(ColumnSpec(target=spec.target, source=c, type="double"), F.col(c)) for c in spec.sources]
        failed = [~_blank(F.col(c)) & p.isNull() for c, p in zip(spec.sources, points)]
        reason = F.when(failed[0] | failed[1] | failed[2] | failed[3],
                        F.lit(f"parse({spec.target}): {', '.join(spec.sources)} are not all numbers"))
        return haversine_km(*points), reason
    if spec.derive == "row_hash":
        return row_id, None
    if spec.derive == "row_id":
        return row_id, None
    if spec.source is None or spec.source not in present:
        return F.lit(spec.default).cast(spec.type), None
    value = parsed(spec, F.col(spec.source))
    failed = ~_blank(F.col(spec.source)) & value.isNull()
    shown = f" with format {spec.format!r}" if spec.format else ""
    reason = F.when(failed, F.lit(f"parse({spec.target}): {spec.source} is not a {spec.type}{shown}"))
    return value, reason


def source_row(columns: list[str], sensitive: dict[str, str]) -> Column:
    """The source row as text for the quarantine: a card number masked, a personal field left out."""
    shown = [masked_card_number(F.col(c)).alias(c) if sensitive.get(c) == "card_number" else
             F.col(c).cast("string").alias(c) for c in columns if sensitive.get(c) != "personal"]
    return F.struct(*shown)


def apply_mapping(df: DataFrame, mapping: Mapping, key: bytes | None = None) -> DataFrame:
    """Source rows -> our raw columns (without tx_time_seconds / tx_time_days), the kept columns, tx_date,
    source_file, the source row as the quarantine keeps it and the parse reasons (null on a row that parsed).
    `key`: the secret of the keyed card id, for a mapping with `derive: keyed_hash`."""
    if mapping.needs_key and key is None:
        raise MappingError(f"{mapping.path}: derive keyed_hash needs the card id key (ingest.card_key_env or "
                           f"ingest.card_key_secret)")
    present = set(df.columns)
    source_columns = [c for c in df.columns if c not in READ_COLUMNS]
    row_id = stable_id(F.to_json(F.struct(*[F.col(c) for c in source_columns])))
    time_spec = next(s for s in mapping.columns if s.target == "tx_datetime")
    tx_datetime, _ = _value(time_spec, present, row_id, key, mapping.sensitive)
    values, reasons = {}, []
    for spec in (*mapping.columns, *mapping.keep):
        values[spec.target], reason = _value(spec, present, row_id, key, mapping.sensitive, tx_datetime)
        if reason is not None:
            reasons.append(reason)
    if "tx_fraud_scenario" not in values:
        values["tx_fraud_scenario"] = F.lit(None).cast("int")
    parse_reason = F.concat_ws("; ", *reasons) if reasons else F.lit("")
    ours = [values[c].alias(c) for c in RAW_COLUMNS if c in values]
    kept = [values[s.target].alias(s.target) for s in mapping.keep]
    mapped = df.select(
        *ours, *kept,
        F.col(SOURCE_FILE) if SOURCE_FILE in present else F.input_file_name().alias(SOURCE_FILE),
        *[F.col(c) for c in (SOURCE_OFFSET, SCAN_ROW) if c in present],
        source_row(source_columns, mapping.sensitive).alias(SOURCE_ROW),
        F.nullif(parse_reason, F.lit("")).alias(PARSE_REASON),
    )
    return mapped.select("*", F.to_date("tx_datetime").alias(PARTITION))


def with_event_time(df: DataFrame, origin: dt.date) -> DataFrame:
    """Adds tx_time_seconds and tx_time_days: whole seconds and days since `origin` (midnight UTC), as the
    simulator counts from its start date."""
    origin_seconds = int(dt.datetime.combine(origin, dt.time(), dt.timezone.utc).timestamp())
    seconds = (F.unix_seconds("tx_datetime") - F.lit(origin_seconds)).cast("long")
    return df.select("*", seconds.alias("tx_time_seconds"),
                     F.floor(seconds / SECONDS_PER_DAY).cast("int").alias("tx_time_days"))
