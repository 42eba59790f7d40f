"""Anomaly signals: fitted on one DataFrame (a training block), applied to another; higher means more unusual."""
from __future__ import annotations

import pytest

from models.anomaly import fit_isolation_forest, fit_kmeans, with_isolation_score, with_kmeans_distance

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


def test_isolation_score_ranks_an_outlier_above_an_ordinary_row(train, scored):
    forest = fit_isolation_forest(train, INPUTS, sample_rows=1_000, seed=1, trees=50)
    got = {r.id: r.isolation_forest_score for r in with_isolation_score(scored, forest, INPUTS).collect()}
    assert got[101] > got[100]
    assert set(with_isolation_score(scored, forest, INPUTS).columns) == {"id", "x", "y", "isolation_forest_score"}
