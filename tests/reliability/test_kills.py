"""SIGKILL of the feature and scoring jobs (their whole spark-submit process group) at points of their write.

Each scenario runs as its own process, all at once (they are independent and mostly start-up), stops at a point
of `jobs.tables` (`FRAUD_PAUSE_AT`) or, for the staging write, as soon as Spark's `_temporary` folder appears,
and is killed there. Then: what a reader sees right away is only complete partitions, each identical to an
uninterrupted run's, and the next run to write the table leaves exactly the uninterrupted run's rows and no
leftovers. Two runs on disjoint dates at the same time both complete without clobbering each other.
"""
from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pytest

from jobs import build_features, score
from jobs.tables import list_partitions
from tests.conftest import QUEUE_SIZE, SCORED_DAYS, SMALL_PROTOCOL, TEST_MODEL_NAME, config_for_tests, tracked_config
from tests.reliability.harness import (WAIT_SECONDS, digests, finish, kill, launch, leftovers, paused,
                                       step_times)

D1, D2, D3, D4 = (dt.date(2018, 4, 3) + dt.timedelta(days=i) for i in range(4))
# the feature runs compute the book's windows only: what is under test is the commit protocol, and the families'
# extra window passes cost each of the five concurrent JVMs seconds
BOOK_WINDOWS_ONLY = ("features.card_behaviour_windows_days=[]", "features.robust_zscore_days=0",
                     "features.large_amounts_days=0", "features.terminal_activity_windows_days=[]",
                     "features.novelty_days=0", "features.delayed_risk_windows_days=[]")
FAST = config_for_tests("validation.enabled=false", *BOOK_WINDOWS_ONLY)
RUN_DEPENDENT = ("scored_at",)


def feature_args(raw: str, out: Path, first: dt.date, last: dt.date) -> list[str]:
    return ["--input", raw, "--output", str(out), "--start-date", str(first), "--end-date", str(last)]


@pytest.fixture(scope="module")
def reference(spark, tiny_raw, tmp_path_factory) -> Path:
    """An uninterrupted feature run over D1 .. D4."""
    out = tmp_path_factory.mktemp("uninterrupted") / "features"
    build_features.run(spark, FAST, tiny_raw, str(out), D1, D4)
    return out


def score_settings(store) -> tuple[str, ...]:
    return (*SMALL_PROTOCOL, f"tracking.tracking_uri=sqlite:///{store}/mlflow.db",
            f"tracking.artifact_root={store}/artifacts", f"model.registered_name={TEST_MODEL_NAME}",
            f"scoring.investigate_cards={QUEUE_SIZE}")


@pytest.fixture(scope="module")
def killed(tiny_raw, reference, small_features, trained, mlflow_store, tmp_path_factory) -> dict[str, Path]:
    """Every scenario's output folder once its job was killed at its point (or, for the two concurrent runs,
    once both finished)."""
    root = tmp_path_factory.mktemp("kills")
    shutil.copytree(reference, root / "gap" / "features")  # the dates were written before: a re-run is killed
    score_args = ["--features", small_features[0], "--start-date", str(SCORED_DAYS[0]),
                  "--end-date", str(SCORED_DAYS[1])]
    scenarios = {  # name: (job, arguments, pause point or None for the staging write)
        "staging": ("build_features", feature_args(tiny_raw, root / "staging" / "features", D1, D3), None),
        "gap": ("build_features", feature_args(tiny_raw, root / "gap" / "features", D1, D3),
                f"aside features {D2}"),
        "score_between": ("score", [*score_args, "--output", str(root / "score_between")], "commit alerts"),
    }
    running = {}
    for name, (job, args, point) in scenarios.items():
        settings = score_settings(mlflow_store) if job == "score" else BOOK_WINDOWS_ONLY
        running[name] = launch(job, args, root / f"{name}.log", point, settings), point
    together = [launch("build_features", feature_args(tiny_raw, root / "together" / "features", first, last),
                       root / f"together_{i}.log", settings=BOOK_WINDOWS_ONLY)
                for i, (first, last) in enumerate(((D1, D2), (D3, D4)))]

    def reached(name, point):
        if point:
            return paused(root / f"{name}.log", point)()
        return any((root / name / "features" / "_staging").glob("*/_temporary"))

    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while running:
            for name, (proc, point) in list(running.items()):
                if reached(name, point):
                    kill(proc)
                    del running[name]
                elif proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{name}: the job ended ({proc.poll()}) or took {WAIT_SECONDS} s before "
                                         f"{point or 'the staging write'}:\n{(root / f'{name}.log').read_text()[-3000:]}")
            time.sleep(0.05)
        for i, proc in enumerate(together):
            finish(proc, root / f"together_{i}.log")
    finally:
        for proc in [p for p, _ in running.values()] + together:
            if proc.poll() is None:
                kill(proc)
    return root


def test_killed_while_staging_a_reader_sees_nothing_and_a_rerun_equals_an_uninterrupted_run(spark, tiny_raw,
                                                                                             reference, killed):
    out = killed / "staging" / "features"
    (staging,) = (out / "_staging").glob("*/")
    assert (staging / "_temporary").exists() and not (staging / "_SUCCESS").exists()  # cut in the middle
    assert digests(out) == {} and list_partitions(spark, str(out)) == {}
    build_features.run(spark, FAST, tiny_raw, str(out), D1, D3)
    want = digests(reference)
    assert digests(out) == {str(d): want[str(d)] for d in (D1, D2, D3)}
    assert leftovers(out) == []


def test_killed_mid_commit_a_reader_sees_whole_partitions_and_the_next_run_rolls_the_commit_forward(
        spark, tiny_raw, reference, killed):
    out = killed / "gap" / "features"
    want = digests(reference)
    # D1 was replaced, D2 moved aside and not yet replaced: absent, never half there; D3 and D4 as before
    assert digests(out) == {str(d): want[str(d)] for d in (D1, D3, D4)}
    assert sorted(list_partitions(spark, str(out))) == [D1, D3, D4]
    build_features.run(spark, FAST, tiny_raw, str(out), D4, D4)  # another date: its commit finishes the dead one's
    assert digests(out) == want
    assert leftovers(out) == []


def test_a_scoring_run_killed_between_its_tables_is_rolled_forward_by_the_next_run(spark, small_features,
                                                                                  scored_publish, mlflow_store,
                                                                                  killed):
    out, want = killed / "score_between", scored_publish[0]
    assert digests(out / "scored", RUN_DEPENDENT) == digests(want / "scored", RUN_DEPENDENT)
    assert digests(out / "alerts") == {}
    config = tracked_config(mlflow_store, f"scoring.investigate_cards={QUEUE_SIZE}", "validation.enabled=false")
    score.run(spark, config, small_features[0], str(out), SCORED_DAYS[1])  # the last day only
    assert digests(out / "alerts", RUN_DEPENDENT) == digests(want / "alerts", RUN_DEPENDENT)  # both days
    assert leftovers(out / "scored") == leftovers(out / "alerts") == []


def test_two_runs_on_disjoint_dates_at_once_both_complete_and_keep_each_other_s_dates(reference, killed):
    out = killed / "together" / "features"
    first, second = (step_times(killed / f"together_{i}.log") for i in range(2))
    assert first["plan"] < second["commit"] and second["plan"] < first["commit"]  # they did overlap
    assert digests(out) == digests(reference)
    assert len(list((out / "_runs").glob("*.json"))) == 2 and leftovers(out) == []
