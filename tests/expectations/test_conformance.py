"""Reading a file's types and names as the contract's: every integer width, float32 amounts, timestamps without a
zone, names in any case; a value that the contract's type cannot hold is quarantined with its reason, never
wrapped or rounded."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from expectations.contracts import RAW_TRANSACTIONS, TableContract
from expectations.quarantine import REASON, SOURCE_FILE, conform, schema_problem, with_quarantine_reason

D = dt.date(2018, 4, 1)
LIMITS = {"tinyint": (-2**7, 2**7 - 1), "smallint": (-2**15, 2**15 - 1), "int": (-2**31, 2**31 - 1),
          "bigint": (-2**63, 2**63 - 1)}
WIDTHS = {"tinyint": T.ByteType(), "smallint": T.ShortType(), "int": T.IntegerType(), "bigint": T.LongType()}
NARROWING = [(have, want) for have in WIDTHS for want in WIDTHS if LIMITS[have][1] > LIMITS[want][1]]
WIDENING = [(have, want) for have in WIDTHS for want in WIDTHS if LIMITS[have][1] <= LIMITS[want][1]]


def one_column(dtype: T.DataType) -> TableContract:
    return TableContract(name="t", schema=T.StructType([T.StructField("v", dtype)]), row_rules=(), unique_key=None)


def read_flagged(spark, values: list, have: T.DataType, want: T.DataType):
    """`values` written as `have`, read against a one-column contract of type `want`, rules applied."""
    schema = T.StructType([T.StructField("v", have), T.StructField("tx_date", T.DateType())])
    contract = one_column(want)
    rows = spark.createDataFrame([(v, D) for v in values], schema)
    return with_quarantine_reason(conform(rows, contract), contract).drop(SOURCE_FILE)


def expected(spark, rows: list, want: T.DataType):
    schema = T.StructType([T.StructField("v", want), T.StructField("tx_date", T.DateType()),
                           T.StructField(REASON, T.StringType())])
    return spark.createDataFrame([(v, D, reason) for v, reason in rows], schema)


@pytest.mark.parametrize("have, want", WIDENING)
def test_every_value_of_a_narrower_or_equal_integer_width_is_read_unchanged(spark, have, want):
    low, high = LIMITS[have]
    got = read_flagged(spark, [low, None, high], WIDTHS[have], WIDTHS[want])
    assert_df_equality(got, expected(spark, [(low, None), (None, None), (high, None)], WIDTHS[want]),
                       ignore_nullable=True)


@pytest.mark.parametrize("have, want", NARROWING)
def test_a_wider_integer_is_read_up_to_the_limit_and_quarantined_beyond_it(spark, have, want):
    low, high = LIMITS[want]
    got = read_flagged(spark, [low - 1, low, None, high, high + 1], WIDTHS[have], WIDTHS[want])
    reason = f"fits_type(v): a {have} read as {want} must lie in [{low}, {high}], found "
    assert_df_equality(got, expected(spark, [(None, f"{reason}{low - 1}"), (low, None), (None, None), (high, None),
                                             (None, f"{reason}{high + 1}")], WIDTHS[want]),
                       ignore_nullable=True)


def test_a_bigint_read_as_double_is_exact_up_to_2_to_the_53_and_quarantined_beyond(spark):
    got = read_flagged(spark, [-2**53 - 1, -2**53, 2**53, 2**53 + 1], T.LongType(), T.DoubleType())
    reason = f"fits_type(v): a bigint read as double must lie in [{-2**53}, {2**53}], found "
    assert_df_equality(got, expected(spark, [(None, f"{reason}{-2**53 - 1}"), (float(-2**53), None),
                                             (float(2**53), None), (None, f"{reason}{2**53 + 1}")], T.DoubleType()),
                       ignore_nullable=True)


def test_an_int_read_as_double_is_exact_at_its_limits(spark):
    low, high = LIMITS["int"]
    got = read_flagged(spark, [low, high], T.IntegerType(), T.DoubleType())
    assert_df_equality(got, expected(spark, [(float(low), None), (float(high), None)], T.DoubleType()),
                       ignore_nullable=True)


def test_a_float32_amount_is_read_as_the_decimal_written_not_its_binary_expansion(spark):
    got = read_flagged(spark, [0.1, 12.34, 123456.78, None, float("nan"), float("inf")], T.FloatType(),
                       T.DoubleType())
    assert_df_equality(got, expected(spark, [(0.1, None), (12.34, None), (123456.78, None), (None, None),
                                             (float("nan"), None), (float("inf"), None)], T.DoubleType()),
                       ignore_nullable=True, allow_nan_equality=True)


def test_a_timestamp_without_a_zone_is_read_as_utc_wall_clock_time(spark):
    wall = dt.datetime(2018, 4, 1, 23, 59, 59)
    got = read_flagged(spark, [wall, None], T.TimestampNTZType(), T.TimestampType())
    utc = wall.replace(tzinfo=dt.timezone.utc)
    assert_df_equality(got, expected(spark, [(utc, None), (None, None)], T.TimestampType()), ignore_nullable=True)


def test_a_timestamp_with_a_zone_is_read_unchanged(spark):
    instant = dt.datetime(2018, 4, 1, 0, 0, 0, tzinfo=dt.timezone.utc)
    got = read_flagged(spark, [instant], T.TimestampType(), T.TimestampType())
    assert_df_equality(got, expected(spark, [(instant, None)], T.TimestampType()), ignore_nullable=True)


def test_a_value_that_does_not_fit_a_required_column_is_quarantined_with_both_reasons(spark):
    contract = TableContract(name="t", schema=T.StructType([T.StructField("tx_fraud", T.IntegerType(),
                                                                          nullable=False)]),
                             row_rules=tuple(r for r in RAW_TRANSACTIONS.row_rules if r.column == "tx_fraud"),
                             unique_key=None)
    # 2**32 + 1 would wrap to 1, a valid label
    rows = spark.createDataFrame([(2**32 + 1, D)], "tx_fraud bigint, tx_date date")
    got = with_quarantine_reason(conform(rows, contract), contract).first()[REASON]
    assert got == ("fits_type(tx_fraud): a bigint read as int must lie in [-2147483648, 2147483647], found "
                   "4294967297; not_null(tx_fraud): must not be null")


def raw_schema(rename=str.lower, **changes) -> T.StructType:
    fields = {f.name: f.dataType for f in RAW_TRANSACTIONS.schema.fields}
    fields.update(changes)
    return T.StructType([*(T.StructField(rename(n), t) for n, t in fields.items()),
                         T.StructField("tx_date", T.DateType())])


def test_the_books_upper_case_64_bit_schema_has_no_problem():
    books = raw_schema(str.upper, tx_time_days=T.LongType(), tx_fraud=T.LongType(), tx_fraud_scenario=T.LongType(),
                       tx_datetime=T.TimestampNTZType())
    assert schema_problem(books, RAW_TRANSACTIONS, allow_extra=False) is None


def test_two_columns_that_differ_only_by_case_are_refused_naming_both():
    schema = T.StructType([*raw_schema().fields, T.StructField("TX_AMOUNT", T.DoubleType())])
    assert schema_problem(schema, RAW_TRANSACTIONS, allow_extra=True) == (
        "TX_AMOUNT", "unique_column_names", "differs only by case from column 'tx_amount'")


@pytest.mark.parametrize("column, dtype", [("tx_fraud", T.DoubleType()), ("tx_amount", T.DecimalType(10, 2)),
                                           ("tx_datetime", T.DateType()), ("customer_id", T.StringType())])
def test_a_type_that_is_not_an_integer_float_or_timestamp_of_its_kind_is_still_refused(column, dtype):
    problem = schema_problem(raw_schema(**{column: dtype}), RAW_TRANSACTIONS, allow_extra=False)
    assert problem[:2] == (column, "column_type")
