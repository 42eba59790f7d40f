"""The README's first command, on a small data set: every stage runs and says where its output went."""
from __future__ import annotations

from conf import load_config
from jobs import pipeline
from tests.conftest import SMALL_GRID, SMALL_PROTOCOL, SMALL_SIMULATION, TEST_OVERRIDES


def test_the_pipeline_grid_replaces_the_training_grid_unless_null():
    config = load_config(None, ["model.pipeline_grid={maxIter: [5], maxDepth: [2]}"])
    assert pipeline.with_pipeline_grid(config).model.grid == {"maxIter": (5,), "maxDepth": (2,)}
    assert pipeline.with_pipeline_grid(load_config(None, ["model.pipeline_grid=null"])).model.grid == \
        config.model.grid


def test_the_pipeline_runs_every_stage_end_to_end(spark, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    paths = {name: tmp_path / name for name in ("raw", "features", "training", "publish")}
    overrides = [*TEST_OVERRIDES, *SMALL_SIMULATION, *SMALL_PROTOCOL, *SMALL_GRID, "model.pipeline_grid=null",
                 "scoring.pipeline_days=2", f"tracking.tracking_uri=sqlite:///{tmp_path}/mlflow/mlflow.db",
                 f"tracking.artifact_root={tmp_path}/mlflow/artifacts", "model.registered_name=fraud-gbt-pipeline",
                 *[f"paths.{name}={path}" for name, path in paths.items()]]
    assert pipeline.main([arg for item in overrides for arg in ("--set", item)]) == 0
    printed = capsys.readouterr().out
    for section in ("Simulated transactions", "Features", "Training", "Scoring", "Monitoring"):
        assert f"\n{section} (" in f"\n{printed}"
    assert "registered fraud-gbt-pipeline v1 as champion" in printed
    assert sorted(p.name for p in (paths["publish"] / "scored").iterdir() if p.name.startswith("tx_date=")) == [
        "tx_date=2018-05-19", "tx_date=2018-05-20"]
    assert len([p for p in (paths["publish"] / "monitoring").iterdir() if p.name.startswith("tx_date=")]) == 2
    assert list((paths["publish"] / "_reports").glob("*.html"))
