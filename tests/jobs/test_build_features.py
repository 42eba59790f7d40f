"""The feature job end to end: look-back reads, incremental = full, re-runs, and every kind of bad input."""
from __future__ import annotations

import datetime as dt
import glob
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from expectations.contracts import RAW_TRANSACTIONS, ContractError
from jobs import build_features
from jobs.build_features import plan_dates
from jobs.files import Partition
from tests.conftest import config_for_tests

D = dt.date(2018, 5, 10)
FAST = config_for_tests("validation.enabled=false")


def partitions(*dates, empty=()):
    return {d: Partition(d, f"t/tx_date={d}", () if d in empty else (f"t/tx_date={d}/p.parquet",))
            for d in dates}


def days(first: dt.date, count: int):
    return [first + dt.timedelta(days=i) for i in range(count)]


def test_plan_reads_the_requested_dates_and_the_37_day_look_back_only():
    available = partitions(*days(dt.date(2018, 4, 1), 60))
    requested, to_read = plan_dates(available, "t", D, D + dt.timedelta(days=1), 37)
    assert requested == [D, D + dt.timedelta(days=1)]
    assert [p.date for p in to_read] == days(D - dt.timedelta(days=37), 39)


def test_plan_without_dates_takes_every_date_with_data():
    available = partitions(*days(D, 3), empty=(D,))
    assert plan_dates(available, "t", None, None, 37)[0] == days(D + dt.timedelta(days=1), 2)


@pytest.mark.parametrize("start, end, message", [
    (dt.date(2019, 1, 1), dt.date(2019, 1, 5), "no data for any date from 2019-01-01 to 2019-01-05"),
    (D, D + dt.timedelta(days=2), "1 requested partition\\(s\\) missing or empty: 2018-05-11"),
])
def test_plan_refuses_requested_dates_without_data(start, end, message):
    available = partitions(*days(D, 3), empty=(D + dt.timedelta(days=1),))
    with pytest.raises(ContractError, match=message) as error:
        plan_dates(available, "t", start, end, 37)
    assert error.value.rule == "dates_have_data" and error.value.column == "tx_date"


@pytest.fixture(scope="module")
def full_run(small_features):
    return small_features


def test_the_full_run_keeps_every_row_and_writes_its_validation(spark, small_raw, full_run):
    output, summary = full_run
    raw_rows = spark.read.parquet(f"{small_raw}/transactions").count()
    assert summary["rows_in"] == summary["rows_out"] == raw_rows and summary["rows_quarantined"] == 0
    assert spark.read.parquet(output).count() == raw_rows
    results = sorted(Path(output, "_validation").glob("*.json"))
    assert [p.name.split("_2018")[0] for p in results] == ["raw_transactions", "transaction_features"]
    assert all(json.loads(p.read_text())["success"] for p in results)


def test_an_incremental_run_equals_the_full_run_on_its_dates(spark, small_raw, full_run, tmp_path):
    output, _ = full_run
    build_features.run(spark, FAST, f"{small_raw}/transactions", str(tmp_path), D, D + dt.timedelta(days=1))
    got = spark.read.parquet(str(tmp_path))
    want = spark.read.parquet(output).where(F.col("tx_date").between(D, D + dt.timedelta(days=1)))
    assert sorted(str(p.name) for p in tmp_path.glob("tx_date=*")) == [f"tx_date={D}",
                                                                         f"tx_date={D + dt.timedelta(days=1)}"]
    assert_df_equality(got.orderBy("transaction_id"), want.orderBy("transaction_id"))


def test_a_rerun_replaces_its_dates_and_leaves_the_others_untouched(spark, small_raw, tmp_path):
    raw, out = f"{small_raw}/transactions", str(tmp_path)
    build_features.run(spark, FAST, raw, out, D, D + dt.timedelta(days=1))
    first = {p: Path(p).stat().st_mtime_ns for p in glob.glob(f"{out}/tx_date={D}/*.parquet")}
    before = spark.read.parquet(out).localCheckpoint()
    build_features.run(spark, FAST, raw, out, D + dt.timedelta(days=1), D + dt.timedelta(days=1))
    build_features.run(spark, FAST, raw, out, D + dt.timedelta(days=1), D + dt.timedelta(days=1))
    after = spark.read.parquet(out)
    assert {p: Path(p).stat().st_mtime_ns for p in glob.glob(f"{out}/tx_date={D}/*.parquet")} == first
    assert after.count() == after.select("transaction_id").distinct().count() == before.count()
    assert_df_equality(after.orderBy("transaction_id"), before.orderBy("transaction_id"))


def test_the_command_line_runs_the_job(small_raw, tmp_path, capsys):
    code = build_features.main(["--input", f"{small_raw}/transactions", "--output", str(tmp_path),
                                "--start-date", str(D), "--end-date", str(D), *sum(
                                    [["--set", o] for o in ("spark.shuffle_partitions=2", "validation.enabled=false",
                                                            "spark.driver_memory=2g")], [])])
    assert code == 0 and "rows_quarantined  0" in capsys.readouterr().out
    assert [p.name for p in tmp_path.glob("tx_date=*")] == [f"tx_date={D}"]


def test_the_run_summary_names_its_data_docs_site(spark, tmp_path):
    """Four literal rows of two cards over two days, validated: the summary and the manifest name the site."""
    at = [dt.datetime(2018, 4, 1, 9, tzinfo=dt.timezone.utc), dt.datetime(2018, 4, 2, 0, tzinfo=dt.timezone.utc)]
    rows = [(i, at[i % 2] + dt.timedelta(minutes=i), 1 + i // 2, 7, 10.0 + i, 32400 + 86400 * (i % 2) + 60 * i,
             i % 2, 0, 0) for i in range(4)]
    raw = tmp_path / "raw"
    (spark.createDataFrame(rows, RAW_TRANSACTIONS.schema).withColumn("tx_date", F.to_date("tx_datetime"))
     .write.partitionBy("tx_date").parquet(str(raw)))
    summary = build_features.run(spark, config_for_tests(), str(raw), str(tmp_path / "out"))
    assert summary["data_docs"] == f"{tmp_path}/out/_data_docs/index.html" and Path(summary["data_docs"]).is_file()
    (manifest,) = Path(tmp_path, "out", "_runs").glob("*.json")
    assert json.loads(manifest.read_text())["data_docs"] == summary["data_docs"]


# ---- bad input: a copy of the small raw table with one partition rewritten (each kind of bad input has its row
# in tests/reliability/test_bad_input.py) ----

def copy_with(small_raw: str, tmp_path: Path, change, date: dt.date = D) -> tuple[str, str]:
    """Copy the raw table and pass `date`'s data file through `change(pandas) -> pandas | pyarrow.Table`."""
    table = tmp_path / "raw"
    # without Hadoop's .crc side files, as a table written by another tool would be
    shutil.copytree(f"{small_raw}/transactions", table, ignore=shutil.ignore_patterns("*.crc"))
    (file,) = glob.glob(f"{table}/tx_date={date}/*.parquet")
    original = pq.ParquetFile(file).read()  # the file alone: no columns from its folder name
    changed = change(original.to_pandas())
    out = changed if isinstance(changed, pa.Table) else pa.Table.from_pandas(changed, preserve_index=False)
    # pandas drops the instant's UTC flag; give it back so that only the intended change differs
    out = out.set_column(out.schema.get_field_index("tx_datetime"), "tx_datetime",
                         out.column("tx_datetime").cast(original.schema.field("tx_datetime").type))
    pq.write_table(out, file)
    return str(table), file


def test_extra_columns_can_be_allowed(spark, small_raw, tmp_path):
    table, _ = copy_with(small_raw, tmp_path, lambda f: f.assign(merchant="shop"))
    config = config_for_tests("validation.enabled=false", "validation.allow_extra_columns=true")
    summary = build_features.run(spark, config, table, str(tmp_path / "out"), D, D)
    assert summary["rows_out"] == summary["rows_in"] > 0


def break_rows(frame):
    """Eight bad rows among good ones: one per row rule, and a second copy of an id."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    frame = frame.astype({"transaction_id": "Int64", "customer_id": "Int64"})
    frame.loc[0, "transaction_id"] = None
    frame.loc[1, "tx_amount"] = -3.0
    frame.loc[2, "tx_amount"] = np.nan
    frame.loc[3, "tx_amount"] = np.inf
    frame.loc[4, "tx_fraud"] = 2
    frame.loc[5, "tx_datetime"] = frame.loc[5, "tx_datetime"] + dt.timedelta(days=1)
    frame.loc[6, "customer_id"] = None
    with_copy = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)
    table = pa.Table.from_pandas(with_copy, preserve_index=False).cast(schema, safe=False)
    amounts = pa.array(with_copy["tx_amount"].to_numpy(), type=pa.float64())  # keeps NaN a NaN, not a null
    return table.set_column(table.schema.get_field_index("tx_amount"), "tx_amount", amounts)


def test_a_rerun_after_the_bad_rows_are_fixed_empties_that_dates_quarantine(spark, small_raw, tmp_path):
    table, file = copy_with(small_raw, tmp_path, break_rows)
    out = str(tmp_path / "out")
    build_features.run(spark, FAST, table, out, D, D)
    shutil.copy(glob.glob(f"{small_raw}/transactions/tx_date={D}/*.parquet")[0], file)
    summary = build_features.run(spark, FAST, table, out, D, D)
    assert summary["rows_quarantined"] == 0
    assert not Path(f"{out}_quarantine", f"tx_date={D}").exists()


def test_files_written_with_narrower_lossless_types_are_read_as_the_contract(spark, small_raw, full_run, tmp_path):
    table, _ = copy_with(small_raw, tmp_path, lambda f: f.astype({"customer_id": "int32", "terminal_id": "int32"}))
    build_features.run(spark, FAST, table, str(tmp_path / "out"), D, D)
    want = spark.read.parquet(full_run[0]).where(F.col("tx_date") == D)
    assert_df_equality(spark.read.parquet(str(tmp_path / "out")).orderBy("transaction_id"),
                       want.orderBy("transaction_id"))


def test_nothing_of_a_failed_run_is_visible_in_the_output(spark, small_raw, tmp_path):
    out = tmp_path / "out"
    build_features.run(spark, FAST, f"{small_raw}/transactions", str(out), D, D)
    before = sorted(p.name for p in out.glob("tx_date=*"))
    table, _ = copy_with(small_raw, tmp_path, lambda f: f.assign(tx_amount=f.tx_amount.astype(str)))
    with pytest.raises(ContractError):
        build_features.run(spark, FAST, table, str(out), D - dt.timedelta(days=1), D)
    assert sorted(p.name for p in out.glob("tx_date=*")) == before


def test_a_run_failing_its_validation_leaves_the_output_as_it_was(spark, small_raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    build_features.run(spark, FAST, f"{small_raw}/transactions", str(out), D, D)
    files_before = sorted(p.name for p in out.glob("tx_date=*/*.parquet"))

    def failing_validation(*args, **kwargs):
        raise ContractError("transaction_features", str(out), "customer_id_nb_tx_1day_window", "between", "injected")

    monkeypatch.setattr(build_features, "validate_output", failing_validation)
    with pytest.raises(ContractError, match="injected"):
        build_features.run(spark, config_for_tests(), f"{small_raw}/transactions", str(out), D, D)
    assert sorted(p.name for p in out.glob("tx_date=*/*.parquet")) == files_before
