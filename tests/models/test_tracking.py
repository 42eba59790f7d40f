"""Where MLflow tracks: the environment wins over the config; a relative SQLite store becomes absolute."""
from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from conf import TrackingConf
from models.tracking import promote, tracking_uri


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


NAME = "promotion-test"
CALENDAR = [{"kind": "test", "fold": 0, "train_start": "2018-08-01"}]


@pytest.fixture
def registry(tmp_path):
    store = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, source=(tmp_path / "model").as_uri())
    client.set_registered_model_alias(NAME, "champion", "1")
    for key, value in {"test_calendar": json.dumps([{"kind": "test", "fold": 0, "train_start": "2018-07-25"}]),
                       "test_average_precision_mean": "0.7"}.items():
        client.set_model_version_tag(NAME, "1", key, value)
    return client


def test_a_retrain_that_ties_the_champion_refitted_on_its_folds_replaces_it(registry):
    promotion = promote(registry, NAME, "2", "average_precision", 0.7321, CALENDAR, lambda tags: 0.7321)
    assert promotion.alias == "champion" and "equals, on later data," in promotion.reason
    assert str(registry.get_model_version_by_alias(NAME, "champion").version) == "2"


def test_a_retrain_below_the_champion_refitted_on_its_folds_stays_challenger(registry):
    promotion = promote(registry, NAME, "2", "average_precision", 0.70, CALENDAR, lambda tags: 0.71)
    assert promotion.alias == "challenger"
    assert str(registry.get_model_version_by_alias(NAME, "champion").version) == "1"


def test_a_tie_on_the_champions_own_test_folds_keeps_the_champion(registry):
    same = json.loads(registry.get_model_version(NAME, "1").tags["test_calendar"])
    promotion = promote(registry, NAME, "2", "average_precision", 0.7, same, lambda tags: pytest.fail("refitted"))
    assert promotion.alias == "challenger" and "its recorded score on the same test folds" in promotion.reason
