"""Anomaly signals: fitted on one DataFrame (a training block), applied to another; higher means more unusual."""
from __future__ import annotations

import mlflow
import numpy as np
import pytest

from models.anomaly import (SIGNALS_RUN_TAG, draw_sample, fit_isolation_forest, fit_kmeans, fit_signals, load_signals,
                            log_signals, with_isolation_score, with_kmeans_distance)

INPUTS = ("x", "y")


@pytest.fixture(scope="module")
def train(spark):
    points = [(i, float(cx + (i % 5) * 0.1), float(cy + (i % 3) * 0.1)) for i, (cx, cy) in
              enumerate([(0.0, 0.0), (10.0, 10.0)] * 20)]
    return spark.createDataFrame(points, "id long, x double, y double")


@pytest.fixture(scope="module")
def scored(spark):
    return spark.createDataFrame([(100, 0.2, 0.1), (101, 50.0, -40.0)], "id long, x double, y double")


def test_kmeans_distance_is_small_near_a_training_centroid_and_large_far_from_all(train, scored):
    model = fit_kmeans(train, INPUTS, k=2, seed=1)
    got = {r.id: r.kmeans_distance for r in with_kmeans_distance(scored, model).collect()}
    assert got[100] < 0.2 < 5.0 < got[101]  # in training standard deviations (about 5 units of x here)


def test_kmeans_fits_on_a_sample_of_the_rows_when_asked_and_finds_the_centroids_spark_finds(spark):
    # two blobs of 10,000 rows each, around (0, 0) and (10, 10)
    rows = spark.range(20_000).selectExpr("id", "(id % 2) * 10 + (id % 7) * 0.1 as x", "(id % 2) * 10 + (id % 5) * 0.1 as y")
    assert 900 <= len(draw_sample(rows, INPUTS, 1_000, seed=1)) <= 1_500  # about 1.2 x 1,000 drawn
    assert len(draw_sample(rows, INPUTS, 50_000, seed=1)) == 20_000  # more wanted than there are: all of them
    whole = fit_kmeans(rows, INPUTS, k=2, seed=1)  # in Spark, on every row
    sampled = fit_kmeans(rows, INPUTS, k=2, seed=1, sample_rows=1_000)  # on the driver, on a sample
    assert sum(whole.stages[-1].summary.clusterSizes) == 20_000
    for fitted in (whole, sampled):
        assert [type(stage).__name__ for stage in fitted.stages] == ["VectorAssembler", "StandardScalerModel",
                                                                    "KMeansModel"]
    assert sampled.stages[1].mean.toArray() == pytest.approx(whole.stages[1].mean.toArray(), abs=0.2)
    assert sampled.stages[1].std.toArray() == pytest.approx(whole.stages[1].std.toArray(), rel=0.02)
    centers = [sorted(map(tuple, model.stages[-1].clusterCenters())) for model in (whole, sampled)]
    assert np.array(centers[1]) == pytest.approx(np.array(centers[0]), abs=0.05)  # in standard deviations
    distances = [{r.id: r.kmeans_distance for r in with_kmeans_distance(rows.where("id < 20"), model).collect()}
                 for model in (whole, sampled)]
    assert distances[1] == pytest.approx(distances[0], abs=0.05)


def test_a_constant_input_scales_to_zero_as_spark_s_scaler_does(spark):
    rows = spark.range(2_000).selectExpr("id", "cast(id % 10 as double) as x", "3.0 as y")
    sampled = fit_kmeans(rows, INPUTS, k=2, seed=1, sample_rows=1_000)
    assert sampled.stages[1].std.toArray()[1] == 0.0
    scaled = sampled.transform(rows.limit(5)).select("_anomaly_scaled").collect()
    assert all(row[0][1] == 0.0 for row in scaled)


def test_isolation_score_ranks_an_outlier_above_an_ordinary_row(train, scored):
    forest = fit_isolation_forest(train, INPUTS, sample_rows=1_000, seed=1, trees=50)
    got = {r.id: r.isolation_forest_score for r in with_isolation_score(scored, forest, INPUTS).collect()}
    assert got[101] > got[100]
    assert set(with_isolation_score(scored, forest, INPUTS).columns) == {"id", "x", "y", "isolation_forest_score"}


def test_signals_logged_in_a_run_are_loaded_back_with_their_inputs_and_give_the_same_scores(spark, train, scored,
                                                                                           tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        mlflow.set_experiment("another")  # the active experiment is not the parent run's: the child follows its parent
        experiment = mlflow.create_experiment("anomaly", artifact_location=str(tmp_path / "artifacts"))
        signals = fit_signals(train, INPUTS, k=2, sample_rows=1_000, trees=20, seed=1)
        with mlflow.start_run(experiment_id=experiment) as run:
            log_signals(signals, pip_requirements=[])
        child = mlflow.get_run(mlflow.get_run(run.info.run_id).data.tags[SIGNALS_RUN_TAG])
        assert child.info.experiment_id == experiment
        with mlflow.start_run(experiment_id=experiment) as bare:
            pass
        loaded = load_signals(run.info.run_id)
        assert loaded.inputs == INPUTS
        expected = {r.id: (r.kmeans_distance, r.isolation_forest_score) for r in signals.apply(scored).collect()}
        got = {r.id: (r.kmeans_distance, r.isolation_forest_score) for r in loaded.apply(scored).collect()}
        assert got == pytest.approx(expected) and got[101][0] > got[100][0]
        with pytest.raises(LookupError, match=f"run {bare.info.run_id} .* has no anomaly signals"):
            load_signals(bare.info.run_id)
    finally:
        mlflow.set_tracking_uri(None)


def test_fitting_names_an_input_the_rows_do_not_hold(train):
    with pytest.raises(ValueError, match="anomaly.inputs: z is not a column"):
        fit_signals(train, ("x", "z"), k=2, sample_rows=100, trees=5, seed=1)
