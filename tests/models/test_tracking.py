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


def test_the_uri_mlflow_wrote_to_the_environment_for_one_config_does_not_override_the_next(monkeypatch, tmp_path):
    """mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI: a second config in the same process (a second job of
    the pipeline on another store, a test) must still reach its own store."""
    import mlflow

    from models.tracking import use_experiment
    from tests.conftest import mlflow_uris_restored

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = (TrackingConf(tracking_uri=f"sqlite:///{tmp_path}/{n}/mlflow.db",
                                  artifact_root=str(tmp_path / n / "artifacts")) for n in ("a", "b"))
    with mlflow_uris_restored():
        use_experiment(first)
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path}/a/mlflow.db"
        use_experiment(second)
        assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path}/b/mlflow.db"
