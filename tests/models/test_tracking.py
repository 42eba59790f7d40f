"""Where MLflow tracks: the environment wins over the config; a relative SQLite store becomes absolute."""
from __future__ import annotations

from conf import TrackingConf
from models.tracking import tracking_uri


def test_mlflow_tracking_uri_from_the_environment_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert tracking_uri(TrackingConf()) == "http://mlflow.internal:5000"


def test_a_relative_sqlite_store_is_made_absolute_and_its_folder_created(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = tracking_uri(TrackingConf(tracking_uri="sqlite:///store/mlflow.db"))
    assert uri == f"sqlite:///{tmp_path}/store/mlflow.db" and (tmp_path / "store").is_dir()


def test_the_folder_of_an_absolute_sqlite_store_is_created(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking_uri(TrackingConf(tracking_uri=f"sqlite:///{tmp_path}/new/mlflow.db"))
    assert uri == f"sqlite:///{tmp_path}/new/mlflow.db" and (tmp_path / "new").is_dir()
