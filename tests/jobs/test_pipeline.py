"""The README's first command (`jobs.pipeline`), on the small data set: every stage runs and says where its output
went."""
from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from conf import load_config
from jobs import pipeline
from tests.conftest import SCORED_DAYS, TEST_MODEL_NAME


def test_the_pipeline_grid_replaces_the_training_grid_unless_null():
    config = load_config(None, ["model.pipeline_grid={maxIter: [5], maxDepth: [2]}"])
    assert pipeline.with_pipeline_grid(config).model.grid == {"maxIter": (5,), "maxDepth": (2,)}
    assert pipeline.with_pipeline_grid(load_config(None, ["model.pipeline_grid=null"])).model.grid == \
        config.model.grid


def test_the_pipeline_runs_every_stage_end_to_end(pipeline_run):
    """The shared `pipeline_run` fixture is this run: the main job on the small set with the tests' settings."""
    paths, printed = pipeline_run.config.paths, pipeline_run.printed
    for section, path in (("Simulated transactions", paths.raw), ("Features", paths.features),
                          ("Training", paths.training), ("Scoring", paths.publish), ("Monitoring", paths.publish)):
        assert f"\n{section} ({path}" in f"\n{printed}"
    assert f"registered {TEST_MODEL_NAME} v1 as champion" in printed
    publish = Path(paths.publish)
    assert sorted(p.name for p in (publish / "scored").iterdir() if p.name.startswith("tx_date=")) == [
        f"tx_date={day}" for day in SCORED_DAYS]
    assert pipeline_run.results["monitored"]["days"] == len(SCORED_DAYS)
    assert sorted(p.name for p in (publish / "monitoring").iterdir() if p.name.startswith("tx_date=")) == [
        f"tx_date={day}" for day in SCORED_DAYS]
    assert list((publish / "_reports").glob("*.html"))


def test_training_reports_each_anomaly_signal_alone_on_the_test_folds(pipeline_run):
    """Each signal is fitted on each test fold's training block and scored as the only score (issue 9)."""
    trained = pipeline_run.results["trained"]
    alone = trained["anomaly_signals_alone"]
    assert set(alone) == {"kmeans_distance", "isolation_forest_score"}
    for signal, metrics in alone.items():
        assert 0.0 <= metrics["average_precision"]["mean"] <= 1.0 and 0.0 <= metrics["auc_roc"]["mean"] <= 1.0
        assert f"anomaly signal alone on the test folds, {signal}: auc_roc" in pipeline_run.printed
    client = MlflowClient(pipeline_run.config.tracking.tracking_uri)
    signals = client.get_run(client.get_run(trained["mlflow_run_id"]).data.tags["anomaly_signals_run_id"])
    assert signals.data.metrics["test_kmeans_distance_average_precision_mean"] == pytest.approx(
        alone["kmeans_distance"]["average_precision"]["mean"])
    # each signal's metrics belong to its own model on the run page
    models = client.search_logged_models([signals.info.experiment_id],
                                         filter_string=f"source_run_id = '{signals.info.run_id}'")
    owned = {model.name: {m.key.split("_")[1] for m in model.metrics} for model in models}
    assert owned == {"anomaly_isolation_forest": {"isolation"}}  # k-means: a Spark flavour model, no logged model
