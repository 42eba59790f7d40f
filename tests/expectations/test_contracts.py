"""Schema conformance and row rules of the raw-transactions contract."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F, types as T

from expectations.contracts import RAW_TRANSACTIONS, features_contract
from expectations.quarantine import REASON, SOURCE_FILE, schema_problem, with_quarantine_reason
from expectations.suites import build_suite, validate, validate_together

D = dt.date(2018, 4, 1)
TS = dt.datetime(2018, 4, 1, 10, 0, 0, tzinfo=dt.timezone.utc)
FLAGGED_INPUT = T.StructType([*(T.StructField(f.name, f.dataType) for f in RAW_TRANSACTIONS.schema.fields),
                              T.StructField("tx_date", T.DateType()),
                              T.StructField(SOURCE_FILE, T.StringType())])


def good(transaction_id, **changes):
    row = dict(transaction_id=transaction_id, tx_datetime=TS, customer_id=1, terminal_id=2, tx_amount=10.0,
               tx_time_seconds=36000, tx_time_days=0, tx_fraud=0, tx_fraud_scenario=0, tx_date=D,
               source_file="file-a")
    row.update(changes)
    return tuple(row[f.name] for f in FLAGGED_INPUT.fields)


def reasons(spark, rows):
    df = spark.createDataFrame(rows, FLAGGED_INPUT)
    return {r.transaction_id: r[REASON] for r in with_quarantine_reason(df, RAW_TRANSACTIONS).collect()}


def schema_with(**changes):
    fields = {f.name: f.dataType for f in RAW_TRANSACTIONS.schema.fields}
    fields["tx_date"] = T.DateType()
    for name, dtype in changes.items():
        if dtype is None:
            fields.pop(name)
        else:
            fields[name] = dtype
    return T.StructType([T.StructField(n, t) for n, t in fields.items()])


def test_a_conforming_schema_has_no_problem():
    assert schema_problem(schema_with(), RAW_TRANSACTIONS, allow_extra=False) is None


@pytest.mark.parametrize("changes, problem", [
    ({"tx_amount": None}, ("tx_amount", "required_column", "is missing")),
    ({"tx_amount": T.StringType()}, ("tx_amount", "column_type", "must be double, found string")),
    ({"tx_fraud": T.DoubleType()}, ("tx_fraud", "column_type", "must be int, found double")),
    ({"merchant": T.StringType()}, ("merchant", "no_extra_columns", None)),
])
def test_schema_problems_name_the_column_and_rule(changes, problem):
    column, rule, detail = schema_problem(schema_with(**changes), RAW_TRANSACTIONS, allow_extra=False)
    assert (column, rule) == problem[:2]
    if problem[2]:
        assert detail == problem[2]


def test_narrower_types_are_read_losslessly_and_extra_columns_may_be_allowed():
    narrower = schema_with(customer_id=T.IntegerType(), tx_amount=T.FloatType(), merchant=T.StringType())
    assert schema_problem(narrower, RAW_TRANSACTIONS, allow_extra=True) is None


def test_each_broken_row_rule_is_named_and_valid_rows_have_no_reason(spark):
    got = reasons(spark, [
        good(1),
        good(2, customer_id=None),
        good(3, tx_amount=-0.01),
        good(4, tx_amount=float("nan")),
        good(5, tx_amount=float("inf")),
        good(6, tx_fraud=2),
        good(7, tx_datetime=dt.datetime(2018, 4, 2, 0, 0, 0, tzinfo=dt.timezone.utc)),
        good(8, tx_amount=0.0),
    ])
    assert got[1] is None and got[8] is None
    assert got[2] == "not_null(customer_id): must not be null"
    assert all(got[i].startswith("between(tx_amount)") for i in (3, 4, 5))
    assert got[6] == "in_set(tx_fraud): must be one of [0, 1]"
    assert got[7].startswith("inside_partition(tx_datetime)")


def test_a_repeated_id_keeps_the_copy_of_the_earliest_partition(spark):
    next_day = dict(tx_date=D + dt.timedelta(days=1), tx_datetime=TS + dt.timedelta(days=1))
    rows = spark.createDataFrame([good(1, source_file="b", **next_day), good(1, source_file="z"), good(2)],
                                 FLAGGED_INPUT)
    flagged = with_quarantine_reason(rows, RAW_TRANSACTIONS)
    kept = flagged.where(F.col(REASON).isNull()).orderBy("transaction_id").collect()
    assert [(r.transaction_id, r.tx_date, r.source_file) for r in kept] == [(1, D, "z"), (2, D, "file-a")]
    dropped = flagged.where(F.col(REASON).isNotNull()).first()
    assert dropped[REASON].startswith("unique(transaction_id)")


def test_a_broken_first_copy_does_not_push_out_a_valid_later_one(spark):
    rows = spark.createDataFrame([good(1, tx_amount=-5.0), good(1, source_file="later")], FLAGGED_INPUT)
    kept = with_quarantine_reason(rows, RAW_TRANSACTIONS).where(F.col(REASON).isNull()).collect()
    assert [r.source_file for r in kept] == ["later"]


def test_the_gx_suite_reports_the_broken_expectations(spark):
    df = spark.createDataFrame([good(1), good(1), good(3, tx_amount=-1.0)], FLAGGED_INPUT)
    report = validate(df, RAW_TRANSACTIONS)
    assert not report.success
    assert sorted(str(f).split(":")[0] for f in report.failures) == [
        "expect_column_proportion_of_unique_values_to_be_between(transaction_id)",
        "expect_column_values_to_be_between(tx_amount)"]


def test_suites_run_together_report_each_contract_as_if_it_had_run_alone(spark):
    contract = features_contract((1,), (1,))
    feature_fields = [f for f in contract.schema.fields if f.name not in RAW_TRANSACTIONS.columns]
    schema = T.StructType([*FLAGGED_INPUT.fields, *feature_fields])
    features = {f.name: (1 if isinstance(f.dataType, T.IntegerType) else 0.5) for f in feature_fields}
    broken_feature = {**features, "customer_id_avg_amount_1day_window": -1.0}
    df = spark.createDataFrame([(*good(1), *features.values()), (*good(1), *features.values()),  # a repeated id
                                (*good(3, tx_amount=-1.0), *broken_feature.values())], schema)
    together = validate_together(df, [RAW_TRANSACTIONS, contract])
    assert [r.table for r in together] == ["raw_transactions", "transaction_features"]
    for report, alone in zip(together, (RAW_TRANSACTIONS, contract)):  # every expectation of its own suite, once
        assert report.result["statistics"]["evaluated_expectations"] == len(build_suite(alone).expectations)
        assert not report.success
    unique = "expect_column_proportion_of_unique_values_to_be_between(transaction_id): 0.666"
    assert sorted(map(str, together[0].failures)) == [
        f"{unique}6666666666666 unexpected", "expect_column_values_to_be_between(tx_amount): 1 unexpected"]
    assert sorted(map(str, together[1].failures)) == [
        f"{unique}6666666666666 unexpected",
        "expect_column_values_to_be_between(customer_id_avg_amount_1day_window): 1 unexpected"]


def test_the_features_contract_bounds_every_feature():
    contract = features_contract((1, 7, 30), (1, 7, 30))
    checked = {(r.name, r.column) for r in contract.row_rules}
    assert ("between", "customer_id_nb_tx_30day_window") in checked
    assert ("between", "terminal_id_risk_1day_window") in checked
    assert ("in_set", "tx_during_night") in checked
    assert len(contract.columns) == len(RAW_TRANSACTIONS.columns) + 14
    assert ("between", "tx_amount") not in checked  # enforced on the way in, by quarantine
