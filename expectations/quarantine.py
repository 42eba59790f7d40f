"""Schema conformance and the split of a table into valid rows and quarantined rows with their reasons.

A file is read when its columns match the contract's by name without regard to case (two of its columns that
differ only by case are refused) and each type can be read as the contract's (`readable_as`); a value that the
contract's type cannot hold is never wrapped or rounded: its row is quarantined with the value in the reason.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window as W, functions as F, types as T

from expectations.contracts import ContractError, TableContract

REASON = "quarantine_reason"
SOURCE_FILE = "source_file"
# Set by `conform` on a row with a value its contract type cannot hold; `with_quarantine_reason` takes it in.
CAST_REASON = "_cast_reason"

# Every integer width is read as the contract's integer type; a value outside the narrower type's limits is a
# quarantined row, since Spark's cast would wrap it (3,000,000,000 read as int is -1,294,967,296).
INTEGER_LIMITS = {
    T.ByteType: (-2**7, 2**7 - 1), T.ShortType: (-2**15, 2**15 - 1),
    T.IntegerType: (-2**31, 2**31 - 1), T.LongType: (-2**63, 2**63 - 1),
}
# The integers a double holds exactly: a bigint beyond them read as a double would be rounded.
DOUBLE_EXACT_LIMITS = (-2**53, 2**53)
# Field metadata of a bigint column that a Parquet file holds as nanosecond timestamps (see jobs/tables.py).
NANOSECOND_TIMESTAMP = "nanosecond_timestamp"
NANOS_PER_MICRO = 1_000


def holds_nanoseconds(field: T.StructField) -> bool:
    return bool(field.metadata.get(NANOSECOND_TIMESTAMP))


def field_readable_as(have: T.StructField, want: T.DataType) -> bool:
    """`readable_as`, and a nanosecond timestamp (read as its bigint count) as a timestamp."""
    return readable_as(have.dataType, want) or (holds_nanoseconds(have) and isinstance(want, T.TimestampType))


def readable_as(have: T.DataType, want: T.DataType) -> bool:
    """Whether a file's column of type `have` is read as the contract's `want` (each value checked, `fit_limits`):
    any integer width as any integer; integers and float32 as double; a timestamp without a zone (Parquet's
    isAdjustedToUTC=false, Spark's timestamp_ntz) as a timestamp whose wall-clock time is UTC."""
    if have == want:
        return True
    if type(want) in INTEGER_LIMITS:
        return type(have) in INTEGER_LIMITS
    if isinstance(want, T.DoubleType):
        return type(have) in INTEGER_LIMITS or isinstance(have, T.FloatType)
    if isinstance(want, T.TimestampType):
        return isinstance(have, T.TimestampNTZType)
    return False


def fit_limits(have: T.DataType, want: T.DataType) -> tuple[int, int] | None:
    """The range a value of `have` must lie in to be read as `want` unchanged; None when every value does."""
    if type(want) in INTEGER_LIMITS and type(have) in INTEGER_LIMITS:
        low, high = INTEGER_LIMITS[type(want)]
        have_low, have_high = INTEGER_LIMITS[type(have)]
        return None if low <= have_low and have_high <= high else (low, high)
    if isinstance(want, T.DoubleType) and isinstance(have, T.LongType):
        return DOUBLE_EXACT_LIMITS
    return None


def same_name_but_case(actual: T.StructType) -> tuple[str, str] | None:
    """The first two columns whose names differ only by case (Spark matches names without regard to case)."""
    seen: dict[str, str] = {}
    for name in actual.fieldNames():
        if name.lower() in seen:
            return seen[name.lower()], name
        seen[name.lower()] = name
    return None


def schema_problem(actual: T.StructType, contract: TableContract, allow_extra: bool) -> tuple[str, str, str] | None:
    """The first (column, rule, detail) by which `actual` breaks the contract's schema, or None. Column names
    match without regard to case."""
    clash = same_name_but_case(actual)
    if clash:
        return clash[1], "unique_column_names", f"differs only by case from column {clash[0]!r}"
    found = {f.name.lower(): f for f in actual.fields}
    for field in contract.schema.fields:
        if field.name.lower() not in found:
            return field.name, "required_column", "is missing"
        have = found[field.name.lower()]
        if not field_readable_as(have, field.dataType):
            return field.name, "column_type", (
                f"must be {field.dataType.simpleString()}, found {have.dataType.simpleString()}")
    expected = {name.lower() for name in (*contract.columns, contract.partition_column)}
    extra = [name for name in actual.fieldNames() if name.lower() not in expected]
    if extra and not allow_extra:
        return extra[0], "no_extra_columns", (
            "is not in the contract (set validation.allow_extra_columns to drop such columns)")
    return None


def require_schema(actual: T.StructType, contract: TableContract, source: str, allow_extra: bool) -> None:
    problem = schema_problem(actual, contract, allow_extra)
    if problem:
        raise ContractError(contract.name, source, *problem)


def _read_as(value: Column, have: T.DataType, want: T.DataType) -> Column:
    if isinstance(have, T.FloatType) and isinstance(want, T.DoubleType):
        # the shortest decimal that names the float32 (the amount written, 0.1), not its binary expansion
        # (0.10000000149011612)
        return value.cast(T.StringType()).cast(want)
    return value.cast(want)


def _misfit(name: str, value: Column, have: T.DataType, want: T.DataType) -> tuple[Column, Column] | None:
    """(true where the value does not fit `want`, its reason), or None when every value fits."""
    limits = fit_limits(have, want)
    if limits is None:
        return None
    low, high = limits
    reason = F.concat(F.lit(f"fits_type({name}): a {have.simpleString()} read as {want.simpleString()} must lie "
                            f"in [{low}, {high}], found "), value.cast(T.StringType()))
    return value.isNotNull() & ~value.between(low, high), reason


def _nanos_as_timestamp(name: str) -> Column:
    """A nanosecond count as a timestamp of whole microseconds (Spark's precision), rounded down (also before
    1970) by integer arithmetic: as a double, a count of ~1.5e18 would already be rounded to 256 ns."""
    quoted = "`" + name.replace("`", "``") + "`"
    micros = F.expr(f"({quoted} - pmod({quoted}, {NANOS_PER_MICRO})) div {NANOS_PER_MICRO}")
    return F.timestamp_micros(micros)


def conform(df: DataFrame, contract: TableContract, extra: tuple[str, ...] = ()) -> DataFrame:
    """Select the contract's columns (matched without regard to case) in order with its types, the `extra`
    columns as they are, the partition and file. A value its contract type cannot hold is read as null, and
    `_cast_reason` (present only when a column is narrowed) says why, for `with_quarantine_reason`."""
    found = {f.name.lower(): f for f in df.schema.fields}
    columns, reasons = [], []
    for field in contract.schema.fields:
        have = found[field.name.lower()]
        value = F.col(have.name)
        misfit = _misfit(field.name, value, have.dataType, field.dataType)
        read = _read_as(value, have.dataType, field.dataType)
        if holds_nanoseconds(have) and isinstance(field.dataType, T.TimestampType):
            read = _nanos_as_timestamp(have.name)
        if misfit is not None:
            read = F.when(~misfit[0], read)
            reasons.append(F.when(misfit[0], misfit[1]))
        columns.append(read.alias(field.name))
    cast_reason = [F.nullif(F.concat_ws("; ", *reasons), F.lit("")).alias(CAST_REASON)] if reasons else []
    return df.select(
        *columns,
        *[F.col(name) for name in extra],
        F.col(contract.partition_column),
        F.input_file_name().alias(SOURCE_FILE),
        *cast_reason,
    )


def with_quarantine_reason(df: DataFrame, contract: TableContract, repeated_keys: list | None = None) -> DataFrame:
    """Adds `quarantine_reason`: every broken rule of the row joined by '; ', null on a valid row.

    A repeated key keeps its first valid copy (earliest partition, then file, then content), so re-runs choose
    the same copy; the others are quarantined. `repeated_keys` (see `find_repeated_keys`) limits the ranking to
    the rows of those keys, so a table without repeats pays no shuffle; None ranks every row.
    """
    carried = [F.col(CAST_REASON)] if CAST_REASON in df.columns else []  # a value its type cannot hold
    reasons = [*carried, *(F.when(rule.broken(), F.lit(rule.reason)) for rule in contract.row_rules)]
    row_reason = F.concat_ws("; ", *reasons)
    flagged = df.select(*[c for c in df.columns if c != CAST_REASON],
                        F.when(row_reason != "", row_reason).alias(REASON))
    key = contract.unique_key
    if not key or repeated_keys == []:
        return flagged
    first_copy_first = W.partitionBy(key).orderBy(
        F.col(REASON).isNotNull(), F.col(contract.partition_column), F.col(SOURCE_FILE),
        *[F.col(c) for c in contract.columns],
    ).rowsBetween(W.unboundedPreceding, W.currentRow)
    later_copy = F.col(key).isNotNull() & (F.row_number().over(first_copy_first) > 1)
    duplicate = F.lit(f"unique({key}): a copy of this {key} was kept from an earlier partition or file")

    def rank(rows: DataFrame) -> DataFrame:
        return rows.select(*[c for c in flagged.columns if c != REASON], F.when(
            later_copy, F.concat_ws("; ", F.col(REASON), duplicate)).otherwise(F.col(REASON)).alias(REASON))

    if repeated_keys is None:
        return rank(flagged)
    is_repeated = F.col(key).isin(repeated_keys)
    return flagged.where(~is_repeated | F.col(key).isNull()).unionByName(rank(flagged.where(is_repeated)))


def find_repeated_keys(df: DataFrame, key: str, limit: int) -> list | None:
    """The keys that occur more than once (an aggregate of the key column alone), or None when there are more
    than `limit` of them (then every row is ranked)."""
    repeated = df.where(F.col(key).isNotNull()).groupBy(key).count().where(F.col("count") > 1).select(key)
    found = [r[key] for r in repeated.limit(limit + 1).collect()]
    return None if len(found) > limit else found


def valid_rows(flagged: DataFrame) -> DataFrame:
    return flagged.where(F.col(REASON).isNull()).drop(REASON)


def quarantined_rows(flagged: DataFrame) -> DataFrame:
    return flagged.where(F.col(REASON).isNotNull())
