"""The training job on the small simulated set: selection, assessment, MLflow runs and registry, bad input."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from conf import load_config
from expectations.contracts import ContractError
from jobs import train
from models.folds import TEST, Fold
from models.training import METRICS, use_checkpoints
from tests.conftest import TEST_MODEL_NAME, tracked_config

NAME = TEST_MODEL_NAME


@pytest.fixture(scope="module")
def store(mlflow_store):
    return mlflow_store


@pytest.fixture(scope="module")
def first_run(trained):
    return trained


def test_the_summary_holds_the_chosen_setting_and_both_fold_kinds(first_run):
    output, summary = first_run
    assert json.loads((output / "summary.json").read_text())["mlflow_run_id"] == summary["mlflow_run_id"]
    assert summary["chosen_params"]["n_estimators"] in (3, 6) and summary["chosen_params"]["max_bin"] == 16
    for kind in ("validation", "test"):
        for metric in METRICS:
            stats = summary[kind][metric]
            assert 0.0 <= stats["mean"] <= 1.0 and stats["std"] >= 0.0
    assert summary["test"]["auc_roc"]["mean"] > 0.6  # far from a random ranking even with six trees
    assert [f["kind"] for f in summary["folds"]] == ["validation"] * 2 + ["test"] * 2 + ["final"]


def test_every_setting_is_scored_on_every_validation_fold_and_the_chosen_one_on_the_test_folds(first_run):
    output, summary = first_run
    validation = sorted(p.relative_to(output / "predictions/validation").as_posix()
                        for p in (output / "predictions/validation").glob("setting=*/fold=*"))
    assert validation == ["setting=0/fold=0", "setting=0/fold=1", "setting=1/fold=0", "setting=1/fold=1"]
    chosen = summary["chosen_setting"]
    assert sorted(p.name for p in (output / f"predictions/test/setting={chosen}").glob("fold=*")) == [
        "fold=0", "fold=1"]
    best = max(summary["validation_grid"].items(), key=lambda kv: kv[1]["average_precision"])
    assert int(best[0]) == chosen


def test_the_mlflow_run_has_a_child_per_setting_and_the_report(first_run, store):
    _, summary = first_run
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    parent = client.get_run(summary["mlflow_run_id"])
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.name == "fraud-training"
    assert experiment.artifact_location == (store / "artifacts").resolve().as_uri()
    assert parent.data.metrics["test_average_precision_mean"] == pytest.approx(
        summary["test"]["average_precision"]["mean"])
    assert [m.step for m in client.get_metric_history(parent.info.run_id, "test_auc_roc")] == [0, 1]
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}' "
                                                f"and tags.kind = 'validation'")
    assert len(children) == 2
    assert sorted(c.data.tags["chosen"] for c in children) == ["false", "true"]
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/roc_curve.png", "report/pr_curve.png", "report/score_histogram.png",
            "report/feature_importance.png", "report/fold_calendar.png", "report/threshold_table.json"} <= report


def logged_models(client: MlflowClient, run) -> dict[str, object]:
    """{name: LoggedModel} of the models logged in `run`."""
    found = client.search_logged_models([run.info.experiment_id],
                                        filter_string=f"source_run_id = '{run.info.run_id}'")
    return {model.name: model for model in found}


def test_no_anomaly_model_is_logged_in_the_classifiers_run(first_run, store):
    """MLflow 3 shows a run's metrics as belonging to the last model logged in it: the signals go to a child run."""
    _, summary = first_run
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    parent = client.get_run(summary["mlflow_run_id"])
    assert not set(logged_models(client, parent)) - {"model"}  # the Spark flavour logs the classifier as artifacts
    assert {"model"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_the_anomaly_signals_are_logged_in_a_child_run_named_by_the_models_run(first_run, store):
    _, summary = first_run
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    parent = client.get_run(summary["mlflow_run_id"])
    signals = client.get_run(parent.data.tags["anomaly_signals_run_id"])
    assert signals.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "anomaly_kmeans" in {a.path for a in client.list_artifacts(signals.info.run_id)}
    assert sorted(logged_models(client, signals)) == ["anomaly_isolation_forest"]


def test_the_first_model_becomes_champion_and_scores_from_the_registry(spark, first_run, small_features, store):
    _, summary = first_run
    assert summary["registered_model"]["alias"] == "champion"
    mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{store}/mlflow.db")
    model = mlflow.spark.load_model(f"models:/{NAME}@champion")
    scored = model.transform(spark.read.parquet(small_features[0]).limit(50))
    assert scored.where(F.col("prediction").isNull()).count() == 0 and scored.count() == 50


def test_a_model_that_does_not_beat_the_champion_stays_challenger(spark, first_run, small_features, store, tmp_path):
    _, first = first_run
    again = train.run(spark, tracked_config(store), small_features[0], str(tmp_path))
    assert again["registered_model"]["alias"] == "challenger"
    assert "does not beat champion v" in again["registered_model"]["reason"]
    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == first["registered_model"]["version"]
    assert client.get_run(again["mlflow_run_id"]).data.tags["promotion"] == "challenger"
    # the fits checkpointed under the output (a fit of a few hundred trees overflows the stack without), and the
    # run removed its own checkpoints at the end
    assert spark.sparkContext.getCheckpointDir().startswith(f"file:{tmp_path}/_checkpoints/")
    assert not list((tmp_path / "_checkpoints").iterdir())  # not even the run's empty subfolder


def test_a_configured_checkpoint_folder_is_used(spark, tmp_path):
    config = load_config(overrides=[f"model.checkpoint_dir={tmp_path}/shared"])
    assert use_checkpoints(spark, config.model, str(tmp_path / "out")) == f"{tmp_path}/shared"
    assert spark.sparkContext.getCheckpointDir().startswith(f"file:{tmp_path}/shared/")


def fails_before_any_fit(spark, config, features, output: Path, rule: str, column: str | None):
    with pytest.raises(ContractError) as error:
        train.run(spark, config, features, str(output))
    assert (error.value.rule, error.value.column) == (rule, column)
    assert not (output / "predictions").exists()
    return error.value


def test_a_missing_feature_stops_before_any_fit(spark, small_features, store, tmp_path):
    config = tracked_config(store, "model.features=[tx_amount, no_such_feature]")
    error = fails_before_any_fit(spark, config, small_features[0], tmp_path, "required_column", "no_such_feature")
    assert "is missing" in str(error)


def test_dates_outside_the_data_stop_before_any_fit(spark, small_features, store, tmp_path):
    config = tracked_config(store, "protocol.training_start=2019-01-01")
    error = fails_before_any_fit(spark, config, small_features[0], tmp_path, "dates_have_data", "tx_date")
    assert "the table holds 2018-04-01 to 2018-05-20" in str(error)


def test_history_days_before_the_data_stop_before_any_fit(spark, small_features, store, tmp_path):
    # validation fold 1 trains from 2018-04-01, the table's first day: 3 history days reach before it
    config = tracked_config(store, "protocol.history_days=3")
    error = fails_before_any_fit(spark, config, small_features[0], tmp_path, "dates_have_data", "tx_date")
    assert "3 date(s) the folds need have no data, from 2018-03-29 to 2018-03-31" in str(error)


def test_class_weights_count_the_history_days_too():
    day = dt.date(2018, 4, 10)
    counts = {day + dt.timedelta(days=i): (100, 10 + i) for i in range(-5, 5)}  # (rows, frauds) a day
    book, longer = (Fold(TEST, 0, day, block_days=2, delay_days=1, history_days=h) for h in (0, 3))
    assert train.block_counter(counts)(book) == (200, 10 + 11)
    assert train.block_counter(counts)(longer) == (500, 7 + 8 + 9 + 10 + 11)


def copy_features(spark, source: str, target: Path, change) -> str:
    change(spark.read.parquet(source)).write.partitionBy("tx_date").parquet(str(target))
    return str(target)


def test_a_fold_without_fraud_stops_before_any_fit(spark, small_features, store, tmp_path):
    # no fraud on the test days of validation fold 1 (2018-04-15 .. 04-21)
    table = copy_features(spark, small_features[0], tmp_path / "features", lambda df: df.withColumn(
        "tx_fraud", F.when(F.col("tx_date").between("2018-04-15", "2018-04-21"), 0).otherwise(F.col("tx_fraud"))))
    error = fails_before_any_fit(spark, tracked_config(store), table, tmp_path / "out", "fold_has_fraud", "tx_fraud")
    assert "validation fold 1" in str(error) and "test days" in str(error)


def test_a_null_input_stops_before_any_fit(spark, small_features, store, tmp_path):
    table = copy_features(spark, small_features[0], tmp_path / "features", lambda df: df.withColumn(
        "terminal_id_risk_7day_window", F.when(F.col("transaction_id") == 1000, None).otherwise(
            F.col("terminal_id_risk_7day_window"))))
    error = fails_before_any_fit(spark, tracked_config(store), table, tmp_path / "out", "not_null",
                                 "terminal_id_risk_7day_window")
    assert "1 row(s)" in str(error)


def test_on_other_test_folds_the_champion_is_refitted_there_before_the_comparison(spark, first_run, small_features,
                                                                                  store, tmp_path):
    shifted = train.run(spark, tracked_config(store, "protocol.training_start=2018-04-23"), small_features[0],
                        str(tmp_path))
    reason = shifted["registered_model"]["reason"]
    assert "its setting refitted on this run's test folds" in reason
    mine = float(re.search(r"average_precision (\d\.\d+)", reason)[1])
    theirs = float(re.search(r"\((\d\.\d+),", reason)[1])
    assert shifted["registered_model"]["alias"] == ("champion" if mine >= theirs else "challenger")
    assert (tmp_path / "reassessment" / "champion" / "test").is_dir()  # its scores on this run's folds
