"""Great Expectations (1.x) suites built from the contracts, run on Spark DataFrames.

Metrics are computed by Spark on the executors; only the expectations' summaries (counts and at most a few
example values) come back to the driver.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from pyspark.sql import DataFrame

from expectations.contracts import TableContract, _gx

if TYPE_CHECKING:
    import great_expectations as gx


CONTRACTS_META = "contracts"  # an expectation's meta entry: the contracts whose suites hold it


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    unexpected: object

    def __str__(self) -> str:
        return f"{self.expectation}({self.column or 'table'}): {self.unexpected} unexpected"


@dataclass(frozen=True)
class ValidationReport:
    table: str
    success: bool
    failures: tuple[Failure, ...]
    result: dict

    def to_json(self) -> str:
        return json.dumps(self.result, indent=2, default=str)


def build_suite(contract: TableContract) -> gx.ExpectationSuite:
    gx = _gx()
    suite = gx.ExpectationSuite(name=contract.name)
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1))
    for field in contract.schema.fields:
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeOfType(
            column=field.name, type_=type(field.dataType).__name__))
    for rule in contract.row_rules:
        suite.add_expectation(rule.expectation())
    if contract.unique_key:
        # distinct / non-null = 1 is uniqueness, computed by one aggregate (the per-row form ranks every row)
        suite.add_expectation(gx.expectations.ExpectColumnProportionOfUniqueValuesToBeBetween(
            column=contract.unique_key, min_value=1.0, max_value=1.0))
    return suite


def validate(df: DataFrame, contract: TableContract) -> ValidationReport:
    """Run the contract's suite on `df` (which carries the contract's columns and partition column)."""
    return validate_together(df, [contract])[0]


def validate_together(df: DataFrame, contracts: Sequence[TableContract]) -> list[ValidationReport]:
    """The suites of several contracts on one table in one GX run, a report per contract as if each had run alone.
    An expectation of several suites (a shared column's type, the unique key, the row count) runs once, and the
    Spark aggregates of all of them are bundled together rather than computed in a pass per suite."""
    columns = dict.fromkeys(c for k in contracts for c in (*k.columns, k.partition_column))
    derived = {name: make for k in contracts for name, make in k.derived}
    checked = df.select(*columns, *[make().alias(name) for name, make in derived.items()])

    def merged_suite() -> gx.ExpectationSuite:
        owners: dict[tuple, tuple] = {}  # (type, arguments): (expectation, names of the contracts holding it)
        for contract in contracts:
            for expectation in build_suite(contract).expectations:
                key = (expectation.expectation_type,
                       json.dumps(expectation.configuration.kwargs, sort_keys=True, default=str))
                owners.setdefault(key, (expectation, []))[1].append(contract.name)
        suite = _gx().ExpectationSuite(name="+".join(k.name for k in contracts))
        for expectation, names in owners.values():
            expectation.meta = {**(expectation.meta or {}), CONTRACTS_META: names}
            suite.add_expectation(expectation)
        return suite

    result = run_suite_result(checked, merged_suite)
    return [_report(contract.name, result, [r for r in result["results"]
                                            if contract.name in r["expectation_config"]["meta"][CONTRACTS_META]])
            for contract in contracts]


def _report(name: str, result: dict, results: list[dict]) -> ValidationReport:
    """The report of suite `name` out of a GX `result`, keeping `results` (its expectations' results) only."""
    passed = sum(bool(r["success"]) for r in results)
    statistics = {"evaluated_expectations": len(results), "successful_expectations": passed,
                  "unsuccessful_expectations": len(results) - passed,
                  "success_percent": 100.0 * passed / len(results) if results else None}
    failures = tuple(
        Failure(r["expectation_config"]["type"], r["expectation_config"]["kwargs"].get("column"),
                r["result"].get("unexpected_count", r["result"].get("observed_value")))
        for r in results if not r["success"]
    )
    own = {**result, "suite_name": name, "success": passed == len(results), "results": results,
           "statistics": statistics}
    return ValidationReport(name, own["success"], failures, own)


def run_suite(df: DataFrame, make_suite: Callable[[], gx.ExpectationSuite]) -> ValidationReport:
    """Run the suite `make_suite()` builds on `df` (GX builds suites inside its context, so it is made here)."""
    result = run_suite_result(df, make_suite)
    return _report(result["suite_name"], result, result["results"])


def run_suite_result(df: DataFrame, make_suite: Callable[[], gx.ExpectationSuite]) -> dict:
    """GX's validation result (as JSON) of the suite `make_suite()` builds, on `df`."""
    gx = _gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    suite = context.suites.add(make_suite())
    batch_definition = (
        # persist=False: GX would otherwise cache the whole table first; what we validate is freshly written
        # Parquet, which Spark re-reads column by column faster than it builds a cache
        context.data_sources.add_spark(name=suite.name, persist=False)
        .add_dataframe_asset(name=suite.name)
        .add_batch_definition_whole_dataframe(suite.name)
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    # a pass/fail run computes the bundled aggregates only; the counts and examples of a failure cost one Spark job
    # per expectation, so they are fetched only when something failed, and only for the expectations that failed
    result = batch.validate(suite, result_format="BOOLEAN_ONLY").to_json_dict()
    if result["success"]:
        return result
    failed = {_key(r["expectation_config"]) for r in result["results"] if not r["success"]}
    failures = gx.ExpectationSuite(name=f"{suite.name}_failures")
    for expectation in suite.expectations:
        if _key({"type": expectation.expectation_type, "kwargs": expectation.configuration.kwargs}) in failed:
            failures.add_expectation(expectation.copy(update={"id": None}))  # GX's way to copy one to a new suite
    detailed = {_key(r["expectation_config"]): r for r in
                batch.validate(context.suites.add(failures), result_format="BASIC").to_json_dict()["results"]}
    result["results"] = [detailed.get(_key(r["expectation_config"]), r) for r in result["results"]]
    return result


def _key(config: dict) -> tuple[str, str]:
    """An expectation's identity across suites: its type and arguments (GX adds the batch id to a result's)."""
    arguments = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
    return config["type"], json.dumps(arguments, sort_keys=True, default=str)


def reference_suite(name: str, profile: dict, columns: list[str], mean_tolerance: float,
                    mostly: float) -> gx.ExpectationSuite:
    """A day's features against the training reference: each column's mean within `mean_tolerance` reference
    standard deviations of the reference mean, and at least `mostly` of its values inside the reference range."""
    gx = _gx()
    suite = gx.ExpectationSuite(name=name)
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1))
    for column in columns:
        ref = profile["columns"][column]
        margin = mean_tolerance * ref["std"]
        suite.add_expectation(gx.expectations.ExpectColumnMeanToBeBetween(
            column=column, min_value=ref["mean"] - margin, max_value=ref["mean"] + margin))
        suite.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(
            column=column, min_value=ref["min"], max_value=ref["max"], mostly=mostly))
    return suite
