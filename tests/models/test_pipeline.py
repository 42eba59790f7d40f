"""The model's parameter grid, class weights and pipeline."""
from __future__ import annotations

import dataclasses

import pytest
from pyspark.sql import functions as F

from conf import ConfigError, ModelConf
from models.pipeline import (GBT_DEFAULTS, build_pipeline, feature_importances, first_trees, fraud_weight,
                             grows_by_prefix, parameter_settings, score, scores_by_trees, with_class_weight)


def test_the_grid_is_every_combination_over_the_fixed_parameters():
    model = ModelConf(learner="gbt", gbt={"maxBins": 16}, grid={"maxIter": (5, 10), "maxDepth": (2, 3)})
    settings = parameter_settings(model)
    assert [(s["maxIter"], s["maxDepth"]) for s in settings] == [(5, 2), (5, 3), (10, 2), (10, 3)]
    assert all(s["maxBins"] == 16 and s["seed"] == GBT_DEFAULTS["seed"] for s in settings)


def test_the_default_grid_is_the_issue_s_eighteen_settings():
    assert len(parameter_settings(ModelConf())) == 18


@pytest.mark.parametrize("field", ["gbt", "grid"])
def test_an_unknown_gbt_parameter_is_a_config_error_naming_it(field):
    model = dataclasses.replace(ModelConf(learner="gbt"), **{field: {"maxTrees": (5,) if field == "grid" else 5}})
    with pytest.raises(ConfigError, match=f"model.{field}.maxTrees is not a GBTClassifier parameter"):
        parameter_settings(model)


@pytest.mark.parametrize("setting, want", [(None, None), ("balanced", 9.0), ("2.5", 2.5)])
def test_fraud_weights(setting, want):
    assert fraud_weight(setting, frauds=10, rows=100) == want


@pytest.mark.parametrize("setting", ["heavy", "0", "-1"])
def test_a_bad_class_weight_is_a_config_error(setting):
    with pytest.raises(ConfigError, match="model.class_weight"):
        fraud_weight(setting, frauds=10, rows=100)


def test_a_weighted_scaled_pipeline_fits_and_scores_probabilities(spark):
    rows = [(float(i), float(i % 7), int(i >= 30)) for i in range(40)]
    df = spark.createDataFrame(rows, "a double, b double, tx_fraud int")
    weighted = with_class_weight(df, "tx_fraud", 3.0)
    assert weighted.where(F.col("tx_fraud") == 1).agg(F.min("class_weight")).first()[0] == 3.0
    model = build_pipeline(["a", "b"], "tx_fraud", {"maxIter": 3, "maxDepth": 2, "seed": 1}, scale=True,
                           weighted=True).fit(weighted)
    scored = score(model, df, ["a", "tx_fraud"]).collect()
    assert all(0.0 <= r.score <= 1.0 for r in scored)
    # a is a perfect separator: every fraud scores above every genuine row
    assert min(r.score for r in scored if r.tx_fraud) > max(r.score for r in scored if not r.tx_fraud)
    assert feature_importances(model, ["a", "b"])[0][0] == "a"


def test_the_first_trees_of_a_fit_score_exactly_like_a_fit_with_fewer_trees(spark):
    rows = [(float(i % 17), float((i * 7) % 11), int((i % 17) > 12 or (i % 5 == 0))) for i in range(300)]
    df = spark.createDataFrame(rows, "a double, b double, tx_fraud int")
    params = {"maxDepth": 3, "stepSize": 0.3, "seed": 5, "maxBins": 16}
    assert grows_by_prefix(params) and not grows_by_prefix({**params, "subsamplingRate": 0.5})
    long = build_pipeline(["a", "b"], "tx_fraud", {**params, "maxIter": 8}, scale=True, weighted=False).fit(df)
    short = build_pipeline(["a", "b"], "tx_fraud", {**params, "maxIter": 3}, scale=True, weighted=False).fit(df)
    got = score(first_trees(long, 3), df, ["a", "b"]).select("score").collect()
    want = score(short, df, ["a", "b"]).select("score").collect()
    full = score(long, df, ["a", "b"]).select("score").collect()
    assert got == want and got != full
    both = scores_by_trees(long, df, ["a", "b"], [3, 8]).collect()
    assert [(r.score_3,) for r in both] == [tuple(r) for r in want]
    assert [(r.score_8,) for r in both] == [tuple(r) for r in full]
