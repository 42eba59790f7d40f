"""SIGKILL of the feature and scoring jobs (their whole spark-submit process group) while they write their Iceberg
tables, on local disk and on the local S3 endpoint, and two runs writing the same dates at once.

Each scenario runs as its own process, all at once (they are independent and mostly start-up), and is killed at a
point of `jobs.tables` (`FRAUD_PAUSE_AT`): during a table's write (its tasks have opened their data files and
handed them rows; nothing is committed), or before a table's write with the run's earlier tables committed. Then:
what a reader sees right away is a whole snapshot (each date holds exactly an uninterrupted run's rows, no more, no
less), and the next run leaves exactly the uninterrupted run's rows.
"""
from __future__ import annotations

import datetime as dt
import time

import pytest

from jobs import build_features, score
from jobs.common import build_session
from jobs.tables import ALERTS, FEATURES, SCORED, output_table, use_catalog
from tests.conftest import (QUEUE_SIZE, S3_BUCKET, SCORED_DAYS, SMALL_PROTOCOL, TEST_MODEL_NAME, config_for_tests,
                            iceberg_settings, s3_client, tracked_config)
from tests.reliability.harness import WAIT_SECONDS, finish, kill, launch, paused, table_digests

D1, D2, D3, D4 = (dt.date(2018, 4, 3) + dt.timedelta(days=i) for i in range(4))
# the feature runs compute the book's windows only: what is under test is the write, and the families' extra
# window passes cost each of the concurrent JVMs seconds
BOOK_WINDOWS_ONLY = ("features.card_behaviour_windows_days=[]", "features.robust_zscore_days=0",
                     "features.large_amounts_days=0", "features.terminal_activity_windows_days=[]",
                     "features.novelty_days=0", "features.delayed_risk_windows_days=[]")
FAST = ("validation.enabled=false", *BOOK_WINDOWS_ONLY)
RUN_DEPENDENT = ("scored_at", "run_id")


def feature_args(raw: str, out: str, first: dt.date, last: dt.date) -> list[str]:
    return ["--input", raw, "--output", out, "--start-date", str(first), "--end-date", str(last)]


def score_settings(store) -> tuple[str, ...]:
    return (*SMALL_PROTOCOL, f"tracking.tracking_uri=sqlite:///{store}/mlflow.db",
            f"tracking.artifact_root={store}/artifacts", f"model.registered_name={TEST_MODEL_NAME}",
            f"scoring.investigate_cards={QUEUE_SIZE}")


@pytest.fixture(scope="module")
def reference(spark, tiny_raw, tmp_path_factory) -> dict:
    """The digests of an uninterrupted feature run over D1 .. D4."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    config = config_for_tests(*FAST, *iceberg_settings(folder))
    build_features.run(spark, config, tiny_raw, str(folder / "features"), D1, D4)
    return table_digests(spark, output_table(config, str(folder / "features"), FEATURES))


@pytest.fixture(scope="module")
def killed(spark, tiny_raw, small_features, trained, scored_publish, mlflow_store, aws_endpoint,
           tmp_path_factory) -> dict:
    """{scenario: (config, output location)} once each job was killed at its point (or, for the two concurrent
    runs, once both finished). Every killed run re-writes dates its table already holds."""
    root = tmp_path_factory.mktemp("kills")
    s3_client(aws_endpoint).create_bucket(Bucket=S3_BUCKET)
    scenarios = {  # name: (job, output location, extra settings, pause point)
        "mid_write": ("build_features", str(root / "mid_write" / "features"), (), f"during write {FEATURES}"),
        "mid_write_s3": ("build_features", f"s3a://{S3_BUCKET}/kills/features",
                         (f"aws.endpoint_url={aws_endpoint}", "aws.region=us-east-1"), f"during write {FEATURES}"),
        "between_tables": ("score", str(root / "between_tables"), score_settings(mlflow_store), f"write {ALERTS}"),
    }
    configs, launches = {}, {}
    for name, (job, out, extra, point) in scenarios.items():  # the tables as an earlier run left them
        settings = (*FAST, *extra, *iceberg_settings(root / name))
        configs[name] = config_for_tests(*settings)
        build_session(configs[name], uris=[out])  # the session's S3A endpoint: the local one
        if job == "build_features":
            build_features.run(spark, configs[name], tiny_raw, out, D1, D4)
            args = feature_args(tiny_raw, out, D1, D3)
        else:
            score.run(spark, tracked_config(mlflow_store, *settings), small_features[0], out, *SCORED_DAYS)
            args = ["--features", small_features[0], "--output", out, "--start-date", str(SCORED_DAYS[0]),
                    "--end-date", str(SCORED_DAYS[1])]
        bundles = ("iceberg", "s3a") if out.startswith("s3a://") else ("iceberg",)
        launches[name] = (job, args, point, settings, bundles)
    running = {name: launch(job, args, root / f"{name}.log", point, settings, bundles)
               for name, (job, args, point, settings, bundles) in launches.items()}
    together = [launch("build_features", feature_args(tiny_raw, str(root / "together" / "features"), D1, D4),
                       root / f"together_{i}.log", settings=(*FAST, *iceberg_settings(root / "together")),
                       bundles=("iceberg",)) for i in range(2)]
    configs["together"] = config_for_tests(*FAST, *iceberg_settings(root / "together"))

    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while running:
            for name, proc in list(running.items()):
                point = scenarios[name][3]
                if paused(root / f"{name}.log", point)():
                    kill(proc)
                    del running[name]
                elif proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{name}: the job ended ({proc.poll()}) or took {WAIT_SECONDS} s before "
                                         f"{point}:\n{(root / f'{name}.log').read_text()[-3000:]}")
            time.sleep(0.05)
        for i, proc in enumerate(together):
            finish(proc, root / f"together_{i}.log")
    finally:
        for proc in [*running.values(), *together]:
            if proc.poll() is None:
                kill(proc)
    return {name: (configs[name], scenarios[name][1] if name in scenarios else str(root / "together" / "features"))
            for name in configs}

@pytest.mark.parametrize("scenario", ["mid_write", "mid_write_s3"])
def test_killed_while_writing_a_reader_sees_the_old_snapshot_and_a_rerun_equals_an_uninterrupted_run(
        spark, tiny_raw, reference, killed, scenario):
    config, out = killed[scenario]
    use_catalog(spark, config)
    table = output_table(config, out, FEATURES)
    runs = {r.run for r in spark.sql(f"SELECT summary['run-id'] AS run FROM {table.identifier}.snapshots").collect()}
    assert len(runs - {None}) == 1  # the earlier run's commit only
    assert table_digests(spark, table) == reference
    build_features.run(spark, config, tiny_raw, out, D1, D3)
    assert table_digests(spark, table) == reference


def test_a_scoring_run_killed_between_its_tables_leaves_each_table_whole_and_the_rerun_completes_both(
        spark, small_features, killed):
    config, out = killed["between_tables"]
    use_catalog(spark, config)
    scored, alerts = (output_table(config, f"{out}/{leaf}", name)
                      for leaf, name in (("scored", SCORED), ("alerts", ALERTS)))
    runs = spark.sql(f"SELECT summary['run-id'] AS run FROM {alerts.identifier}.snapshots").collect()
    assert len({r.run for r in runs if r.run}) == 1  # the killed run committed nothing to the alerts table
    scored_before, alerts_before = table_digests(spark, scored, RUN_DEPENDENT), table_digests(spark, alerts)
    score.run(spark, config, small_features[0], out, *SCORED_DAYS)
    assert table_digests(spark, scored, RUN_DEPENDENT) == scored_before
    assert table_digests(spark, alerts) == alerts_before


def test_two_runs_writing_the_same_dates_at_once_both_commit_and_the_table_holds_one_run_s_rows(reference, killed,
                                                                                                spark):
    config, out = killed["together"]
    use_catalog(spark, config)
    table = output_table(config, out, FEATURES)
    assert table_digests(spark, table) == reference  # no row twice, none missing
    summaries = [r.summary for r in spark.sql(f"SELECT summary FROM {table.identifier}.snapshots").collect()]
    assert len({s["run-id"] for s in summaries if "run-id" in s}) == 2  # each run committed once
