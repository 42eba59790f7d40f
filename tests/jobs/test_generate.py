"""The simulator job: its layout, types and command line."""
from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import generate
from jobs.cli import main as cli


def test_the_command_writes_three_tables_partitioned_by_date_with_utc_microseconds(spark, tmp_path, capsys):
    code = cli(["generate", "--output", str(tmp_path), "--customers", "40", "--terminals", "90", "--days", "5",
                "--start-date", "2020-02-27", "--seed", "5", "--set", "spark.shuffle_partitions=2",
                "--set", "spark.driver_memory=2g"])
    assert code == 0
    summary = json.loads(next(line for line in capsys.readouterr().out.splitlines() if line.startswith("SUMMARY "))[8:])
    assert Path(summary.pop("data_docs")) == tmp_path / "_data_docs" / "index.html"
    assert summary["transactions"] == pq.read_table(tmp_path / "transactions").num_rows > 0
    # the figures the write observed are those of the table read back
    written = generate.summarize(spark.read.parquet(str(tmp_path / "transactions")))
    assert list(summary) == list(written)
    assert summary == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in written.items()}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "_data_docs", "_simulated.json", "_validation", "customer_profiles", "terminal_profiles", "transactions"]
    dates = sorted(p.name for p in (tmp_path / "transactions").glob("tx_date=*"))
    assert dates == ["tx_date=2020-02-27", "tx_date=2020-02-28", "tx_date=2020-02-29", "tx_date=2020-03-01",
                     "tx_date=2020-03-02"]
    schema = pq.ParquetFile(glob.glob(f"{tmp_path}/transactions/tx_date=2020-02-29/*.parquet")[0]).schema_arrow
    assert schema.names == list(generate.RAW_TRANSACTIONS.columns)
    assert schema.field("tx_datetime").type == pa.timestamp("us", tz="UTC")
    assert json.loads(Path(tmp_path, "_validation", "raw_transactions.json").read_text())["success"]
    assert (tmp_path / "_data_docs" / "index.html").is_file()


def test_a_bad_option_is_an_error_that_names_it(capsys):
    assert cli(["generate", "--set", "simulator.customerz=3"]) == 1
    assert "unknown key simulator.customerz" in capsys.readouterr().err


def test_a_raw_table_that_holds_rows_is_replaced_only_with_overwrite(spark, tmp_path, capsys):
    """Real data (rows without the simulator's mark) in the raw table: refused, untouched; --overwrite replaces."""
    real = tmp_path / "transactions" / "tx_date=2017-01-01"  # a date the simulation does not write
    real.mkdir(parents=True)
    (real / "part-0.parquet").write_bytes(b"bank rows")
    argv = ["generate", "--output", str(tmp_path), "--customers", "20", "--terminals", "40", "--days", "2",
            "--set", "spark.shuffle_partitions=2"]
    assert cli(argv) == 1
    assert "RawDataExistsError" in capsys.readouterr().err and (real / "part-0.parquet").read_bytes() == b"bank rows"
    assert not generate.is_simulated(spark, str(tmp_path))
    assert cli([*argv, "--overwrite"]) == 0
    assert not real.exists() and generate.is_simulated(spark, str(tmp_path))
