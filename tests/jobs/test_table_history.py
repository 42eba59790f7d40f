"""The Iceberg tables' history: `fraud audit` says what a re-run changed in a day (rows added, removed, changed,
outcome moves) from the two snapshots, and `fraud maintain` expires snapshots past the retention and removes
orphan files (a killed run's) without touching what snapshots name or the reports beside the tables."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

import pytest
from pyspark.sql import types as T

from conf import ConfigError
from jobs import audit, maintain
from jobs.tables import SCORED, config_tables, partitions, read_all, use_catalog, write_dates
from tests.conftest import config_for_tests, iceberg_settings

D1, D2 = dt.date(2018, 5, 1), dt.date(2018, 5, 2)
SCHEMA = T.StructType([T.StructField("transaction_id", T.LongType()), T.StructField("risk_score", T.IntegerType()),
                       T.StructField("outcome", T.StringType()), T.StructField("scored_at", T.TimestampType()),
                       T.StructField("tx_date", T.DateType())])


@pytest.fixture
def history(spark, tmp_path):
    """A scored table written three times: D1 and D2, then D2 re-scored with one row changed, one gone and one
    new, then D1 re-scored unchanged."""
    config = config_for_tests(*iceberg_settings(tmp_path), f"paths.publish={tmp_path}/publish")
    use_catalog(spark, config)
    table = config_tables(config)[SCORED]
    at = dt.datetime(2018, 5, 3)
    first = [(1, 900, "investigate", at, D1), (2, 10, "pass", at, D1), (3, 950, "investigate", at, D2),
             (4, 500, "review", at, D2), (5, 20, "pass", at, D2)]
    rescored = [(3, 950, "investigate", at, D2), (4, 100, "pass", at, D2), (6, 700, "review", at, D2)]
    snapshots = [write_dates(spark.createDataFrame(first, SCHEMA), table, [D1, D2], "run1", "score"),
                 write_dates(spark.createDataFrame(rescored, SCHEMA), table, [D2], "run2", "score"),
                 write_dates(spark.createDataFrame(first[:2], SCHEMA), table, [D1], "run3", "score")]
    return config, table, snapshots


def test_audit_shows_what_the_last_run_of_a_day_changed(spark, history):
    config, _, snapshots = history
    got = audit.run(spark, config, SCORED, D2)
    assert (got["before"], got["after"], got["before_run"], got["after_run"]) == (*snapshots[:2], "run1", "run2")
    assert {k: got[k] for k in ("rows_before", "rows_after", "added", "removed", "changed")} == {
        "rows_before": 3, "rows_after": 3, "added": 1, "removed": 1, "changed": 1}
    assert got["outcome_changes"] == {"review -> pass": 1}
    unchanged = audit.run(spark, config, SCORED, D1)  # run3 re-wrote D1 with the same rows
    assert unchanged["after_run"] == "run3" and unchanged["changed"] == unchanged["added"] == 0


def test_audit_needs_a_catalog_and_a_known_table(spark, tmp_path):
    with pytest.raises(ConfigError, match="keep no history"):
        audit.run(spark, config_for_tests(f"paths.publish={tmp_path}"), SCORED, D1)
    with pytest.raises(ConfigError, match="--table must be one of"):
        audit.run(spark, config_for_tests(*iceberg_settings(tmp_path)), "raw_transactions", D1)


def test_maintain_expires_old_snapshots_and_removes_orphans_but_not_reports(spark, history):
    config, table, snapshots = history
    live = {f for p in partitions(spark, table).values() for f in p.files}
    orphan = Path(table.location, "data", f"tx_date={D1}", "00000-killed-run.parquet")
    orphan.write_bytes(b"PAR1")  # what a killed run leaves: a data file no snapshot names
    report = Path(table.location, "_runs", "run.json")
    report.parent.mkdir()
    report.write_text("{}")
    old = time.time() - 3 * 24 * 3600
    for path in (orphan, report):
        os.utime(path, (old, old))
    rows_before = read_all(spark, table).count()

    config = dataclasses.replace(config, catalog=dataclasses.replace(config.catalog, retain_snapshots=1))
    done = maintain.run(spark, config, now=dt.datetime.utcnow() + dt.timedelta(days=40))
    assert done[SCORED]["orphan_files_removed"] == 1 and not orphan.exists() and report.exists()
    assert done[SCORED]["expired_snapshots_data_files"] == 2  # the first write's files of D1 and D2, both replaced
    kept = [r.snapshot_id for r in spark.sql(f"SELECT snapshot_id FROM {table.identifier}.snapshots").collect()]
    assert kept == [snapshots[-1]]
    assert read_all(spark, table).count() == rows_before
    assert {f for p in partitions(spark, table).values() for f in p.files} == live
