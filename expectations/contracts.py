"""Data contracts of the tables at each step boundary: schema, row rules and table rules.

A contract is the single source of both the Spark predicates that route bad rows to quarantine and the Great
Expectations suite that documents and guards the table (see `expectations.suites`).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from typing import TYPE_CHECKING, Callable, Sequence

from pyspark.sql import Column, functions as F, types as T

if TYPE_CHECKING:
    import great_expectations as gx


def _gx():
    """Great Expectations, imported on first use: its import takes seconds, which a job overlaps with the start of
    its JVM (`import_gx_in_background`) instead of paying them before it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # read by GX at its import
    import great_expectations

    return great_expectations


def import_gx_in_background() -> threading.Thread:
    """Start importing Great Expectations on a daemon thread (a later `_gx()` waits for it on the import lock)."""
    thread = threading.Thread(target=_gx, name="import-great-expectations", daemon=True)
    thread.start()
    return thread

PARTITION_COLUMN = "tx_date"
# A card amount above this is not a plausible payment; the bound also catches NaN and infinities, which Spark
# orders above every number.
MAX_PLAUSIBLE_AMOUNT = 1_000_000_000.0
DATETIME_DATE = "_tx_datetime_date"
# Columns whose values no published page shows (the Data Docs, `expectations.data_docs`): the card, which the
# ingest job keys (`ingest.sensitive`) but which still names one card holder across every table
SENSITIVE_COLUMNS = ("customer_id",)


class ContractError(ValueError):
    """A table-level failure: the job stops. Names the table, the source, the column and the rule."""

    def __init__(self, table: str, source: str, column: str | None, rule: str, detail: str):
        self.table, self.source, self.column, self.rule = table, source, column, rule
        where = f"column {column!r}" if column else "table"
        super().__init__(f"{table}: {source}: {where} breaks rule {rule!r}: {detail}")


@dataclasses.dataclass(frozen=True)
class RowRule:
    """A rule each row must meet; `broken` is true exactly on rows that break it (never null)."""

    name: str
    column: str
    description: str
    broken: Callable[[], Column]
    expectation: Callable[[], gx.expectations.Expectation]

    @property
    def reason(self) -> str:
        return f"{self.name}({self.column}): {self.description}"


@dataclasses.dataclass(frozen=True)
class TableContract:
    name: str
    schema: T.StructType
    row_rules: tuple[RowRule, ...]
    unique_key: str | None = "transaction_id"
    partition_column: str | None = PARTITION_COLUMN
    derived: tuple[tuple[str, Callable[[], Column]], ...] = ()

    @property
    def columns(self) -> list[str]:
        return self.schema.fieldNames()

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.schema.fields if not f.nullable]


def not_null(column: str) -> RowRule:
    return RowRule("not_null", column, "must not be null", lambda: F.col(column).isNull(),
                   lambda: _gx().expectations.ExpectColumnValuesToNotBeNull(column=column))


def between(column: str, low: float, high: float | None, description: str) -> RowRule:
    def broken() -> Column:
        in_range = F.col(column) >= low if high is None else F.col(column).between(low, high)
        return F.col(column).isNotNull() & ~F.coalesce(in_range, F.lit(False))

    return RowRule("between", column, description, broken,
                   lambda: _gx().expectations.ExpectColumnValuesToBeBetween(column=column, min_value=low,
                                                                         max_value=high))


def finite(column: str) -> RowRule:
    """NaN and infinities: a model input must be a number (Spark ML's VectorAssembler would stop the whole job)."""
    return RowRule("finite", column, "must be a finite number, not NaN or infinite",
                   lambda: F.col(column).isNotNull() & (F.isnan(column) | (F.abs(column) == float("inf"))),
                   lambda: _gx().expectations.ExpectColumnValuesToBeBetween(
                       column=column, min_value=-sys.float_info.max, max_value=sys.float_info.max))


def in_set(column: str, values: Sequence[int]) -> RowRule:
    return RowRule(
        "in_set", column, f"must be one of {list(values)}",
        lambda: F.col(column).isNotNull() & ~F.col(column).isin(list(values)),
        lambda: _gx().expectations.ExpectColumnValuesToBeInSet(column=column, value_set=list(values)))


def datetime_inside_partition() -> RowRule:
    """The instant must fall on its partition's date (UTC), or daily jobs would silently miss the row."""
    return RowRule(
        "inside_partition", "tx_datetime", f"must fall on the date of its {PARTITION_COLUMN} partition (UTC)",
        lambda: F.col("tx_datetime").isNotNull() & (F.to_date("tx_datetime") != F.col(PARTITION_COLUMN)),
        lambda: _gx().expectations.ExpectColumnPairValuesToBeEqual(column_A=PARTITION_COLUMN, column_B=DATETIME_DATE))


RAW_TRANSACTIONS = TableContract(
    name="raw_transactions",
    # nullable=False marks the columns every row needs; the simulator's bookkeeping columns may be null
    schema=T.StructType([
        T.StructField("transaction_id", T.LongType(), nullable=False),
        T.StructField("tx_datetime", T.TimestampType(), nullable=False),
        T.StructField("customer_id", T.LongType(), nullable=False),
        T.StructField("terminal_id", T.LongType(), nullable=False),
        T.StructField("tx_amount", T.DoubleType(), nullable=False),
        T.StructField("tx_time_seconds", T.LongType()),
        T.StructField("tx_time_days", T.IntegerType()),
        T.StructField("tx_fraud", T.IntegerType(), nullable=False),
        T.StructField("tx_fraud_scenario", T.IntegerType()),
    ]),
    row_rules=(
        *(not_null(c) for c in ("transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount",
                                "tx_fraud")),  # the same columns as nullable=False above
        between("tx_amount", 0.0, MAX_PLAUSIBLE_AMOUNT,
                f"must be a finite amount between 0 and {MAX_PLAUSIBLE_AMOUNT:,.0f}"),
        in_set("tx_fraud", (0, 1)),
        datetime_inside_partition(),
    ),
    derived=((DATETIME_DATE, lambda: F.to_date("tx_datetime")),),
)


def feature_names(customer_windows: Sequence[int], terminal_windows: Sequence[int]) -> list[str]:
    """The 14 engineered inputs of handbook §2 in the book's order, lower-cased."""
    names = ["tx_during_weekend", "tx_during_night"]
    for n in customer_windows:
        names += [f"customer_id_nb_tx_{n}day_window", f"customer_id_avg_amount_{n}day_window"]
    for n in terminal_windows:
        names += [f"terminal_id_nb_tx_{n}day_window", f"terminal_id_risk_{n}day_window"]
    return names


def features_contract(customer_windows: Sequence[int], terminal_windows: Sequence[int]) -> TableContract:
    """Raw columns plus the engineered features. The raw row rules were enforced on the way in (rows breaking
    them are in quarantine), so the row rules here guard our own computation: the features' bounds."""
    fields = list(RAW_TRANSACTIONS.schema.fields)
    rules = [not_null("transaction_id")]
    for name in feature_names(customer_windows, terminal_windows):
        is_count, is_flag = "_nb_tx_" in name, name.startswith("tx_during")
        fields.append(T.StructField(name, T.IntegerType() if is_count or is_flag else T.DoubleType()))
        rules.append(not_null(name))
        if is_flag:
            rules.append(in_set(name, (0, 1)))
        elif name.startswith("customer_id_nb_tx"):
            rules.append(between(name, 1, None, "counts the current transaction, so is at least 1"))
        elif "_risk_" in name:
            rules.append(between(name, 0.0, 1.0, "is a share of frauds, so lies in [0, 1]"))
        else:
            rules.append(between(name, 0.0, None, "must not be negative"))
    return dataclasses.replace(RAW_TRANSACTIONS, name="transaction_features", schema=T.StructType(fields),
                               row_rules=tuple(rules))


def training_contract(inputs: Sequence[str], label: str) -> TableContract:
    """What model training needs of the features table: the keys, the label in {0, 1} and every model input,
    none of them null (a fit must not silently drop or impute rows). Other columns are ignored."""
    fields = [T.StructField("transaction_id", T.LongType(), nullable=False),
              T.StructField("customer_id", T.LongType(), nullable=False),
              T.StructField(label, T.IntegerType(), nullable=False)]
    fields += [T.StructField(name, T.DoubleType(), nullable=False) for name in inputs if name != label]
    rules = [*(not_null(f.name) for f in fields), in_set(label, (0, 1)),
             *(finite(f.name) for f in fields if isinstance(f.dataType, T.DoubleType))]
    return TableContract(name="training_features", schema=T.StructType(fields), row_rules=tuple(rules))


def scoring_contract(inputs: Sequence[str]) -> TableContract:
    """What scoring needs of the features table: the keys and every model input, not null. The label is carried
    when present (it is known only later for real data) and may be null."""
    fields = [T.StructField("transaction_id", T.LongType(), nullable=False),
              T.StructField("tx_datetime", T.TimestampType(), nullable=False),
              T.StructField("customer_id", T.LongType(), nullable=False),
              T.StructField("terminal_id", T.LongType(), nullable=False)]
    names = {f.name for f in fields}
    fields += [T.StructField(name, T.DoubleType(), nullable=False) for name in inputs if name not in names]
    fields.append(T.StructField("tx_fraud", T.IntegerType()))
    rules = [*(not_null(f.name) for f in fields if not f.nullable), in_set("tx_fraud", (0, 1)),
             *(finite(f.name) for f in fields if isinstance(f.dataType, T.DoubleType))]
    return TableContract(name="scoring_features", schema=T.StructType(fields), row_rules=tuple(rules))


OUTCOMES = ("investigate", "review", "pass")


def scored_contract(inputs: Sequence[str], reasons: int, signals: Sequence[str] = ()) -> TableContract:
    """The scored table: the scoring keys and inputs, the score, its outcome and reasons, the anomaly `signals`
    (when on; higher is more unusual, see `models.anomaly`) and the model."""
    base = scoring_contract(inputs)
    fields = [*base.schema.fields,
              T.StructField("fraud_probability", T.DoubleType(), nullable=False),
              T.StructField("risk_score", T.IntegerType(), nullable=False),
              T.StructField("outcome", T.StringType(), nullable=False),
              *(T.StructField(signal, T.DoubleType(), nullable=False) for signal in signals)]
    for i in range(1, reasons + 1):
        fields += [T.StructField(f"reason_{i}", T.StringType(), nullable=False),
                   T.StructField(f"reason_{i}_contribution", T.DoubleType(), nullable=False)]
    fields += [T.StructField("model_name", T.StringType()), T.StructField("model_version", T.StringType()),
               T.StructField("mlflow_run_id", T.StringType()),
               T.StructField("scored_at", T.TimestampType(), nullable=False)]
    rules = [*(not_null(f.name) for f in fields if not f.nullable),
             between("fraud_probability", 0.0, 1.0, "is a probability"),
             between("risk_score", 0, 1000, "is a score from 0 to 1000"),
             *(finite(signal) for signal in signals),
             RowRule("in_set", "outcome", f"must be one of {list(OUTCOMES)}",
                     lambda: F.col("outcome").isNotNull() & ~F.col("outcome").isin(list(OUTCOMES)),
                     lambda: _gx().expectations.ExpectColumnValuesToBeInSet(column="outcome",
                                                                         value_set=list(OUTCOMES))),
             datetime_inside_partition()]
    return TableContract(name="scored_transactions", schema=T.StructType(fields), row_rules=tuple(rules),
                         derived=((DATETIME_DATE, lambda: F.to_date("tx_datetime")),))
