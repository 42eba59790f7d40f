"""Every kind of bad input, one row each, across the raw table (feature job), the config, and the model's inputs
(scoring job): the job stops with a typed error naming the table or file, the column and the rule, and writes
nothing; or it quarantines exactly the bad rows with their rule and source file, and input = output + quarantined.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import glob
import shutil
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, functions as F

from conf import ConfigError
from expectations.contracts import ContractError
from jobs import build_features, score
from tests.conftest import SCORED_DAYS, config_for_tests, tracked_config

D = dt.date(2018, 4, 4)
FAST = config_for_tests("validation.enabled=false")
INPUT = "customer_id_avg_amount_7day_window"  # a model input


@dataclasses.dataclass
class Case:
    """What a kind of bad input is run against: its folders and, once made, the file holding the bad data."""
    tmp: Path
    spark: object
    tiny_raw: str
    features: str
    store: Path
    file: str | None = None

    @property
    def out(self) -> Path:
        return self.tmp / "out"


def raw_with(change, date: dt.date = D):
    """The tiny raw table with `date`'s file passed through `change(pyarrow.Table) -> pyarrow.Table`."""
    def make(case: Case) -> str:
        table = case.tmp / "raw"
        shutil.copytree(case.tiny_raw, table, ignore=shutil.ignore_patterns("*.crc"))  # as another tool writes
        (case.file,) = glob.glob(f"{table}/tx_date={date}/*.parquet")
        pq.write_table(change(pq.ParquetFile(case.file).read()), case.file)
        return str(table)
    return make


def features_run(make, first: dt.date = D, last: dt.date = D) -> Callable[[Case], dict]:
    return lambda case: build_features.run(case.spark, FAST, make(case), str(case.out), first, last)


def set_value(column: str, row: int, value):
    def change(table: pa.Table) -> pa.Table:
        values = table.column(column).to_pylist()
        values[row] = value
        index = table.schema.get_field_index(column)
        return table.set_column(index, column, pa.array(values, table.schema.field(column).type, from_pandas=False))
    return change


def later_by(column: str, row: int, delta: dt.timedelta):
    return lambda t: set_value(column, row, t.column(column)[row].as_py() + delta)(t)


def id_of_previous_day(case: Case) -> str:
    """Row 0 of D takes a transaction id of D - 1: the same id in two partitions (the earlier copy is kept)."""
    previous = glob.glob(f"{case.tiny_raw}/tx_date={D - dt.timedelta(days=1)}/*.parquet")[0]
    return raw_with(set_value("transaction_id", 0, pq.read_table(previous).column("transaction_id")[0].as_py()))(case)


def corrupt(case: Case) -> str:
    table = raw_with(lambda t: t)(case)
    Path(case.file).write_bytes(b"not a parquet file")
    return table


def with_config_key(case: Case) -> dict:
    return build_features.main(["--input", case.tiny_raw, "--output", str(case.out), "--set", "features.delay=3"])


def features_with(change) -> Callable[[Case], dict]:
    """Score one day of a small features table (a tenth of its rows) in which `change(DataFrame)` made the bad
    input."""
    def run(case: Case) -> dict:
        table = case.tmp / "features"
        rows = case.spark.read.parquet(case.features).where(
            (F.col("tx_date") == SCORED_DAYS[0]) & (F.col("transaction_id") % 10 == 0))
        change(rows).repartition(1).write.partitionBy("tx_date").parquet(str(table))
        (case.file,) = glob.glob(f"{table}/tx_date=*/*.parquet")
        return score.run(case.spark, tracked_config(case.store, "validation.enabled=false"), str(table),
                         str(case.out), SCORED_DAYS[0])
    return run


def input_where(value):
    return lambda rows: rows.withColumn(INPUT, F.when(F.col("transaction_id") % 20 == 0, F.lit(value))
                                        .otherwise(F.col(INPUT)))


def missing_model(case: Case) -> dict:
    return score.run(case.spark, tracked_config(case.store), case.features, str(case.out), SCORED_DAYS[0],
                     given_model="models:/no-such-model@champion")


RAW, SCORING = "raw_transactions", "scoring_features"
# kind, run, expected error or None (quarantine), table, column, rule (error) or reason (quarantine), named source
KINDS = [
    ("added column", features_run(raw_with(lambda t: t.append_column("merchant", pa.array(["shop"] * len(t))))),
     ContractError, RAW, "merchant", "no_extra_columns", "file"),
    ("renamed column", features_run(raw_with(lambda t: t.rename_columns(
        ["card_id" if n == "customer_id" else n for n in t.column_names]))),
     ContractError, RAW, "customer_id", "required_column", "file"),
    ("label written as bigint, one beyond int (a cast would wrap it to 1)", features_run(raw_with(
        lambda t: set_value("tx_fraud", 4, 2**32 + 1)(t.set_column(
            t.schema.get_field_index("tx_fraud"), "tx_fraud", t.column("tx_fraud").cast(pa.int64()))))),
     None, RAW, "tx_fraud", "fits_type(tx_fraud)", "file"),
    ("amount written as text", features_run(raw_with(lambda t: t.set_column(
        t.schema.get_field_index("tx_amount"), "tx_amount", t.column("tx_amount").cast(pa.string())))),
     ContractError, RAW, "tx_amount", "column_type", "file"),
    ("missing column", features_run(raw_with(lambda t: t.drop(["tx_amount"]))),
     ContractError, RAW, "tx_amount", "required_column", "file"),
    ("corrupt file", features_run(corrupt), ContractError, RAW, None, "readable_parquet", "file"),
    ("empty partition", features_run(raw_with(lambda t: t.slice(0, 0))),
     ContractError, RAW, "tx_date", "dates_have_data", "table"),
    ("date range with no data", features_run(lambda case: case.tiny_raw, dt.date(2019, 1, 1), dt.date(2019, 1, 5)),
     ContractError, RAW, "tx_date", "dates_have_data", "table"),
    ("unknown config key", with_config_key, ConfigError, None, "features.delay", "unknown key", None),
    ("null key", features_run(raw_with(set_value("customer_id", 1, None))),
     None, RAW, "customer_id", "not_null(customer_id)", "file"),
    ("null transaction id", features_run(raw_with(set_value("transaction_id", 1, None))),
     None, RAW, "transaction_id", "not_null(transaction_id)", "file"),
    ("NaN amount", features_run(raw_with(set_value("tx_amount", 2, float("nan")))),
     None, RAW, "tx_amount", "between(tx_amount)", "file"),
    ("infinite amount", features_run(raw_with(set_value("tx_amount", 3, float("inf")))),
     None, RAW, "tx_amount", "between(tx_amount)", "file"),
    ("negative amount", features_run(raw_with(set_value("tx_amount", 3, -3.0))),
     None, RAW, "tx_amount", "between(tx_amount)", "file"),
    ("fraud label outside {0, 1}", features_run(raw_with(set_value("tx_fraud", 4, 2))),
     None, RAW, "tx_fraud", "in_set(tx_fraud)", "file"),
    ("timestamp outside its partition", features_run(raw_with(later_by("tx_datetime", 5, dt.timedelta(days=1)))),
     None, RAW, "tx_datetime", "inside_partition(tx_datetime)", "file"),
    ("duplicate transaction id across partitions", features_run(id_of_previous_day),
     None, RAW, "transaction_id", "unique(transaction_id)", "file"),
    ("model URI that does not exist", missing_model,
     LookupError, None, None, "no model at models:/no-such-model@champion", None),
    ("model input renamed", features_with(lambda rows: rows.withColumnRenamed(INPUT, "avg_amount_7d")),
     ContractError, SCORING, INPUT, "required_column", "file"),
    # and the three kinds of BAD_MODEL_INPUTS below
]
# kind, bad value of the model input, rule: quarantined by one shared scoring run, a date each
BAD_MODEL_INPUTS = [
    ("null model input", None, f"not_null({INPUT})"),
    ("NaN model input", float("nan"), f"finite({INPUT})"),
    ("infinite model input", float("-inf"), f"finite({INPUT})"),
]


@pytest.mark.parametrize("run, error, table, column, rule, source", [
    pytest.param(*kind[1:], id=kind[0]) for kind in KINDS])
def test_bad_input_is_refused_or_quarantined_by_a_named_rule_and_nothing_is_lost(
        spark, tiny_raw, small_features, trained, mlflow_store, tmp_path, run, error, table, column, rule, source):
    case = Case(tmp_path, spark, tiny_raw, small_features[0], mlflow_store)
    if error is not None:
        with pytest.raises(error) as raised:
            run(case)
        message = str(raised.value)
        assert rule in message and (column is None or column in message)
        if error is ContractError:
            assert (raised.value.table, raised.value.column, raised.value.rule) == (table, column, rule)
            named = Path(case.file).name if source == "file" else None
            assert (Path(raised.value.source).name == named) if named else raised.value.source.endswith(
                ("raw", "transactions", "features"))
            assert message.startswith(f"{table}: {raised.value.source}: ")
        assert not case.out.exists()  # nothing written
        return
    summary = run(case)
    out_rows = summary.get("rows_out", summary.get("rows_scored"))
    bad = spark.read.parquet(f"{case.out / ('scored' if table == SCORING else '')}".rstrip("/") + "_quarantine")
    written = spark.read.parquet(str(case.out / ("scored" if table == SCORING else ""))).count()
    assert summary["rows_in"] == pq.ParquetFile(case.file).metadata.num_rows  # the whole requested partition
    assert summary["rows_in"] == out_rows + summary["rows_quarantined"] and written == out_rows
    assert bad.count() == summary["rows_quarantined"] > 0
    assert {r.quarantine_reason.split(":")[0] for r in bad.collect()} == {rule}
    assert {Path(r.source_file).name for r in bad.select("source_file").distinct().collect()} == {
        Path(case.file).name}


@pytest.fixture(scope="module")
def scored_bad_model_inputs(spark, small_features, trained, mlflow_store, tmp_path_factory) -> tuple:
    """One scoring run over three dates of a small features table (a tenth of each date's rows), date i holding the
    bad value of BAD_MODEL_INPUTS[i] on every 20th transaction: (output folder, dates, {date: its file}, summary)."""
    root = tmp_path_factory.mktemp("bad_model_inputs")
    dates = [SCORED_DAYS[-1] - dt.timedelta(days=len(BAD_MODEL_INPUTS) - 1 - i) for i in range(len(BAD_MODEL_INPUTS))]
    parts = [input_where(value)(spark.read.parquet(small_features[0]).where(
        (F.col("tx_date") == date) & (F.col("transaction_id") % 10 == 0))) for date, (_, value, _) in
        zip(dates, BAD_MODEL_INPUTS)]
    functools.reduce(DataFrame.unionByName, parts).repartition("tx_date").write.partitionBy("tx_date").parquet(
        str(root / "features"))
    files = {date: glob.glob(f"{root}/features/tx_date={date}/*.parquet") for date in dates}
    assert all(len(found) == 1 for found in files.values())
    summary = score.run(spark, tracked_config(mlflow_store, "validation.enabled=false"), str(root / "features"),
                        str(root / "out"), dates[0], dates[-1])
    return root / "out", dates, {date: found[0] for date, found in files.items()}, summary


def test_one_run_over_every_kind_of_bad_model_input_keeps_the_count(scored_bad_model_inputs):
    _, _, files, summary = scored_bad_model_inputs
    assert summary["rows_in"] == sum(pq.ParquetFile(f).metadata.num_rows for f in files.values())
    assert summary["rows_in"] == summary["rows_scored"] + summary["rows_quarantined"]


@pytest.mark.parametrize("index", range(len(BAD_MODEL_INPUTS)), ids=[kind[0] for kind in BAD_MODEL_INPUTS])
def test_bad_model_input_is_quarantined_by_a_named_rule_and_nothing_is_lost(spark, scored_bad_model_inputs, index):
    out, dates, files, _ = scored_bad_model_inputs
    date, rule = dates[index], BAD_MODEL_INPUTS[index][2]
    on_date = F.col("tx_date") == date
    written = spark.read.parquet(str(out / "scored")).where(on_date).count()
    bad = spark.read.parquet(str(out / "scored_quarantine")).where(on_date)
    assert pq.ParquetFile(files[date]).metadata.num_rows == written + bad.count() and bad.count() > 0
    assert {r.quarantine_reason.split(":")[0] for r in bad.collect()} == {rule}
    assert {Path(r.source_file).name for r in bad.select("source_file").distinct().collect()} == {
        Path(files[date]).name}
