"""The nightly job on a copy of the shared small run's raw table, with its registered champion: a backfill of two
days, a re-run of one, and a day without raw data."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest
from pyspark.sql import functions as F

from expectations.contracts import ContractError
from jobs import daily

LAST = dt.date(2018, 5, 20)  # the small set's last date (tests/conftest.py SMALL_SIMULATION)
BEFORE = LAST - dt.timedelta(days=1)


@pytest.fixture(scope="module")
def nightly(spark, pipeline_run, tmp_path_factory):
    """The pipeline's config on a copy of its raw table, with new features and publish folders: (config, the
    backfill's results, what it printed)."""
    root = tmp_path_factory.mktemp("daily")
    shutil.copytree(pipeline_run.pristine / "raw", root / "raw")
    paths = dataclasses.replace(pipeline_run.config.paths, raw=str(root / "raw"), features=str(root / "features"),
                                publish=str(root / "publish"), training=str(root / "training"))
    config = dataclasses.replace(pipeline_run.config, paths=paths)
    done = daily.run(spark, config, first=BEFORE, last=LAST)
    return config, done, daily.report(config, done)


def dates_of(spark, folder: str) -> dict[dt.date, int]:
    rows = spark.read.parquet(folder).groupBy("tx_date").count().collect()
    return {r["tx_date"]: r["count"] for r in rows}


def test_a_backfill_runs_each_day_in_order_and_writes_only_those_days(spark, nightly):
    config, done, printed = nightly
    assert list(done) == [BEFORE, LAST]
    assert set(dates_of(spark, config.paths.features)) == {BEFORE, LAST}
    scored = dates_of(spark, f"{config.paths.publish}/scored")
    assert set(scored) == {BEFORE, LAST} and set(dates_of(spark, f"{config.paths.publish}/alerts")) == {BEFORE, LAST}
    assert scored[LAST] == done[LAST]["scored"]["rows_scored"] == done[LAST]["features"]["rows_out"]
    lines = printed.splitlines()
    assert lines[0].startswith(f"{BEFORE}: ") and lines[1].startswith(f"{LAST}: ")
    assert "alerts, monitoring" in lines[1] and "scoring report" in printed


def test_the_champion_scores_and_the_day_is_monitored(spark, nightly, pipeline_run):
    config, done, _ = nightly
    assert done[LAST]["scored"]["model_version"] == pipeline_run.results["scored"]["model_version"]
    monitoring = spark.read.parquet(f"{config.paths.publish}/monitoring")
    assert {r["tx_date"] for r in monitoring.select("tx_date").collect()} == {BEFORE, LAST}


def test_a_re_run_of_a_day_replaces_that_day_and_leaves_the_others(spark, nightly):
    config, done, _ = nightly
    before = spark.read.parquet(f"{config.paths.publish}/scored").where(F.col("tx_date") == BEFORE).collect()
    again = daily.run(spark, config, LAST)
    scored = dates_of(spark, f"{config.paths.publish}/scored")
    assert scored[LAST] == again[LAST]["scored"]["rows_scored"] == done[LAST]["scored"]["rows_scored"]
    assert spark.read.parquet(f"{config.paths.publish}/scored").where(F.col("tx_date") == BEFORE).collect() == before
    assert dates_of(spark, config.paths.features)[LAST] == done[LAST]["features"]["rows_out"]


def test_the_default_day_is_the_raw_table_s_latest(spark, nightly):
    config, _, _ = nightly
    assert daily.days_to_run(daily.raw_dates(spark, config), "t", None, None, None) == [LAST]


def test_a_day_without_raw_data_stops_before_anything_is_written(spark, pipeline_run, tmp_path):
    shutil.copytree(pipeline_run.pristine / "raw", tmp_path / "raw")
    shutil.rmtree(tmp_path / "raw" / "transactions" / f"tx_date={LAST}")
    paths = dataclasses.replace(pipeline_run.config.paths, raw=str(tmp_path / "raw"),
                                features=str(tmp_path / "features"), publish=str(tmp_path / "publish"))
    config = dataclasses.replace(pipeline_run.config, paths=paths)
    with pytest.raises(ContractError, match=f"no raw data for {LAST} .*nothing was written"):
        daily.run(spark, config, first=BEFORE, last=LAST)
    assert not (tmp_path / "features").exists() and not (tmp_path / "publish").exists()
