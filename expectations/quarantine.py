"""Schema conformance and the split of a table into valid rows and quarantined rows with their reasons."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window as W, functions as F, types as T

from expectations.contracts import ContractError, TableContract

REASON = "quarantine_reason"
SOURCE_FILE = "source_file"

# Casts that never lose information: a file written with a narrower type is read as the contract's type.
LOSSLESS_CASTS = {
    (T.ShortType, T.IntegerType), (T.ShortType, T.LongType), (T.IntegerType, T.LongType),
    (T.FloatType, T.DoubleType), (T.IntegerType, T.DoubleType), (T.ShortType, T.DoubleType),
}


def schema_problem(actual: T.StructType, contract: TableContract, allow_extra: bool) -> tuple[str, str, str] | None:
    """The first (column, rule, detail) by which `actual` breaks the contract's schema, or None."""
    found = {f.name: f.dataType for f in actual.fields}
    for field in contract.schema.fields:
        if field.name not in found:
            return field.name, "required_column", "is missing"
        have = found[field.name]
        if have != field.dataType and (type(have), type(field.dataType)) not in LOSSLESS_CASTS:
            return field.name, "column_type", (
                f"must be {field.dataType.simpleString()}, found {have.simpleString()}")
    expected = set(contract.columns) | {contract.partition_column}
    extra = [name for name in found if name not in expected]
    if extra and not allow_extra:
        return extra[0], "no_extra_columns", (
            "is not in the contract (set validation.allow_extra_columns to drop such columns)")
    return None


def require_schema(actual: T.StructType, contract: TableContract, source: str, allow_extra: bool) -> None:
    problem = schema_problem(actual, contract, allow_extra)
    if problem:
        raise ContractError(contract.name, source, *problem)


def conform(df: DataFrame, contract: TableContract, extra: tuple[str, ...] = ()) -> DataFrame:
    """Select the contract's columns in order with its types (lossless casts only), the `extra` columns as they
    are, the partition and file."""
    return df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in contract.schema.fields],
        *[F.col(name) for name in extra],
        F.col(contract.partition_column),
        F.input_file_name().alias(SOURCE_FILE),
    )


def with_quarantine_reason(df: DataFrame, contract: TableContract, repeated_keys: list | None = None) -> DataFrame:
    """Adds `quarantine_reason`: every broken rule of the row joined by '; ', null on a valid row.

    A repeated key keeps its first valid copy (earliest partition, then file, then content), so re-runs choose
    the same copy; the others are quarantined. `repeated_keys` (see `find_repeated_keys`) limits the ranking to
    the rows of those keys, so a table without repeats pays no shuffle; None ranks every row.
    """
    reasons = [F.when(rule.broken(), F.lit(rule.reason)) for rule in contract.row_rules]
    row_reason = F.concat_ws("; ", *reasons)
    flagged = df.select("*", F.when(row_reason != "", row_reason).alias(REASON))
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
