"""The two learners: XGBoost's Spark estimator (`model.learner: xgboost`, the default): its settings, fits, first
trees, importances and reason codes; and Spark ML's GBTClassifier (`model.learner: gbt`) through the training and
scoring jobs end to end (the rest of the suite trains with the default)."""
from __future__ import annotations

import dataclasses

import mlflow
import numpy as np
import pytest
import xgboost
from mlflow import MlflowClient
from pyspark.ml.classification import GBTClassificationModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from conf import ConfigError, ModelConf
from jobs import score as score_job, train
from models.explain import with_reasons
from models.pipeline import (XGBOOST_DEFAULTS, build_pipeline, feature_importances, first_trees, grows_by_prefix,
                             number_of_trees, parameter_settings, score, scores_by_trees, tree_model)
from models.training import fit_plans
from tests.conftest import SCORED_DAYS, mlflow_uris_restored, tracked_config
from tests.shap_oracle import shap_values

XGBOOST = ModelConf(learner="xgboost", grid={"maxIter": (5, 10), "maxDepth": (2, 3)}, xgboost={"max_bin": 16})
NAME = "fraud-gbt-learner-test"  # its own registered model: the suite's champion of TEST_MODEL_NAME is an XGBoost


@pytest.fixture(scope="module")
def rows(spark):
    data = [(float(i % 17), float((i * 7) % 11), int((i % 17) > 12 or (i % 5 == 0))) for i in range(300)]
    return spark.createDataFrame(data, "a double, b double, tx_fraud int")


def fitted(rows, trees: int, weighted: bool = False):
    params = {**XGBOOST_DEFAULTS, "max_bin": 16, "max_depth": 3, "learning_rate": 0.3, "n_estimators": trees}
    df = rows.withColumn("class_weight", F.lit(1.0)) if weighted else rows
    return build_pipeline(["a", "b"], "tx_fraud", params, scale=True, weighted=weighted, learner="xgboost").fit(df)


def test_the_grid_keeps_gbt_names_and_settings_carry_xgboost_s():
    settings = parameter_settings(XGBOOST)
    assert [(s["n_estimators"], s["max_depth"]) for s in settings] == [(5, 2), (5, 3), (10, 2), (10, 3)]
    assert all(s["max_bin"] == 16 and s["tree_method"] == "hist" and "maxIter" not in s for s in settings)


def test_a_grid_parameter_without_an_xgboost_counterpart_is_a_config_error():
    model = dataclasses.replace(XGBOOST, grid={"maxIter": (5,), "minInfoGain": (0.1,)})
    with pytest.raises(ConfigError, match="model.grid: minInfoGain has no XGBoost counterpart"):
        parameter_settings(model)


def test_an_unknown_xgboost_parameter_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="model.xgboost.maxTrees is not a SparkXGBClassifier parameter"):
        parameter_settings(dataclasses.replace(XGBOOST, xgboost={"maxTrees": 5}))


def test_an_unknown_learner_is_a_config_error():
    with pytest.raises(ConfigError, match="model.learner must be gbt or xgboost, got 'lightgbm'"):
        ModelConf(learner="lightgbm")


def test_settings_differing_in_trees_share_one_fit_unless_rows_are_subsampled():
    settings = dict(enumerate(parameter_settings(XGBOOST)))
    assert [(plan["n_estimators"], targets) for plan, targets in fit_plans(settings, "xgboost")] == [
        (10, [(0, 5), (2, 10)]), (10, [(1, 5), (3, 10)])]
    assert not grows_by_prefix({"subsample": 0.8}, "xgboost") and grows_by_prefix({"subsample": 1.0}, "xgboost")


def test_one_training_task_unless_the_config_asks_for_more(spark):  # the pipeline's stages need a session
    def workers(params):
        classifier = build_pipeline(["a"], "tx_fraud", params, scale=False, weighted=False,
                                    learner="xgboost").getStages()[-1]
        return classifier.getOrDefault("num_workers"), classifier.getOrDefault("force_repartition")
    assert workers(XGBOOST_DEFAULTS) == (1, False)  # one task reads the rows as they are
    assert workers({**XGBOOST_DEFAULTS, "num_workers": 4}) == (4, True)


def test_a_weighted_fit_scores_probabilities_and_names_the_stronger_input(rows):
    model = fitted(rows, 10, weighted=True)
    scored = score(model, rows, ["tx_fraud"]).collect()
    assert all(0.0 <= r.score <= 1.0 for r in scored) and number_of_trees(model) == 10
    importances = feature_importances(model, ["a", "b"])
    assert importances[0][0] == "a" and sum(share for _, share in importances) == pytest.approx(1.0)


def test_fits_skip_the_training_rows_evaluation_and_make_the_library_estimator_s_model(rows, tmp_path):
    from xgboost.spark import SparkXGBClassifier, SparkXGBClassifierModel

    params = {**XGBOOST_DEFAULTS, "max_bin": 16, "max_depth": 3, "learning_rate": 0.3, "n_estimators": 10}
    pipeline = build_pipeline(["a", "b"], "tx_fraud", params, scale=False, weighted=True, learner="xgboost")
    weighted = rows.withColumn("class_weight", F.when(F.col("tx_fraud") == 1, 2.0).otherwise(1.0))
    ours = pipeline.fit(weighted)
    library = pipeline.getStages()[-1]._copyValues(SparkXGBClassifier())  # the same params, xgboost's own class
    theirs = library.fit(ours.stages[0].transform(weighted))
    x = np.array(rows.select("a", "b").toPandas(), dtype=float)
    assert (tree_model(ours).inplace_predict(x) == theirs.get_booster().inplace_predict(x)).all()
    # the library's fit logs a loss a tree on the training rows; ours computes none
    assert len(theirs.training_summary.train_objective_history["logloss"]) == 10
    fitted_stage = ours.stages[-1]
    assert fitted_stage.training_summary.train_objective_history == {}
    assert type(fitted_stage) is SparkXGBClassifierModel and fitted_stage.getOrDefault("callbacks") is None
    fitted_stage.save(str(tmp_path / "model"))
    assert SparkXGBClassifierModel.load(str(tmp_path / "model")).getOrDefault("callbacks") is None


def test_one_worker_trains_without_the_library_s_barrier_stage_shuffled_or_not_to_the_same_trees(rows, monkeypatch):
    from xgboost.spark import SparkXGBClassifier

    def barrier_fit(self, dataset):
        raise AssertionError("a one-worker fit went through the library's barrier stage")

    monkeypatch.setattr(SparkXGBClassifier, "_fit", barrier_fit)
    params = {**XGBOOST_DEFAULTS, "max_bin": 16, "max_depth": 3, "learning_rate": 0.3, "n_estimators": 10}
    as_read = build_pipeline(["a", "b"], "tx_fraud", params, scale=False, weighted=False, learner="xgboost")
    shuffled = build_pipeline(["a", "b"], "tx_fraud", {**params, "force_repartition": True}, scale=False,
                              weighted=False, learner="xgboost")
    x = np.array(rows.select("a", "b").toPandas(), dtype=float)
    assert (tree_model(as_read.fit(rows)).inplace_predict(x) == tree_model(shuffled.fit(rows)).inplace_predict(x)).all()


def test_a_validation_indicator_that_is_not_boolean_is_refused_before_the_fit(rows):
    params = {**XGBOOST_DEFAULTS, "max_bin": 16, "n_estimators": 5, "validation_indicator_col": "is_validation"}
    split = rows.withColumn("is_validation", F.col("tx_fraud"))  # an int column
    pipeline = build_pipeline(["a", "b"], "tx_fraud", params, scale=False, weighted=False, learner="xgboost")
    with pytest.raises(TypeError, match="The validation indicator must be boolean type"):
        pipeline.fit(split)


def test_more_than_one_worker_trains_through_the_library_s_barrier_stage_still_without_the_training_loss(rows):
    params = {**XGBOOST_DEFAULTS, "max_bin": 16, "max_depth": 3, "learning_rate": 0.3, "n_estimators": 10,
              "num_workers": 2}  # the test session's two task slots
    model = build_pipeline(["a", "b"], "tx_fraud", params, scale=False, weighted=False, learner="xgboost").fit(rows)
    assert model.stages[-1].training_summary.train_objective_history == {} and number_of_trees(model) == 10
    assert all(0.0 <= r.score <= 1.0 for r in score(model, rows, ["a"]).collect())


def test_a_validation_set_is_still_evaluated_and_early_stopping_still_stops(rows):
    params = {**XGBOOST_DEFAULTS, "max_bin": 16, "max_depth": 3, "learning_rate": 0.3, "n_estimators": 200,
              "validation_indicator_col": "is_validation", "early_stopping_rounds": 3}
    split = rows.withColumn("is_validation", (F.col("a") + F.col("b")) % 3 == 0)
    model = build_pipeline(["a", "b"], "tx_fraud", params, scale=False, weighted=False, learner="xgboost").fit(split)
    summary = model.stages[-1].training_summary
    assert summary.train_objective_history == {}
    assert 3 < len(summary.validation_objective_history["logloss"]) < 200 and number_of_trees(model) < 200


def test_the_first_trees_of_a_fit_score_exactly_like_a_fit_with_fewer_trees(rows):
    long, short = fitted(rows, 8), fitted(rows, 3)
    got = score(first_trees(long, 3), rows, ["a", "b"]).select("score").collect()
    assert got == score(short, rows, ["a", "b"]).select("score").collect()
    assert got != score(long, rows, ["a", "b"]).select("score").collect()
    with pytest.raises(ValueError, match="asked for 9 of 8 trees"):
        first_trees(long, 9)


def test_one_scoring_pass_gives_each_tree_count_the_score_of_its_first_trees(rows):
    long = fitted(rows, 8)
    keyed = rows.withColumn("id", F.monotonically_increasing_id()).repartition(3)  # batches of several partitions
    got = {r.id: (r.score_3, r.score_8) for r in scores_by_trees(long, keyed, ["id"], [3, 8]).collect()}
    for trees, at in ((3, 0), (8, 1)):
        kept = long if trees == 8 else first_trees(long, trees)
        want = {r.id: r.score for r in score(kept, keyed, ["id"]).collect()}
        assert want.keys() == got.keys()
        assert max(abs(want[i] - got[i][at]) for i in want) < 1e-6
    assert len({round(a - b, 6) for a, b in got.values()}) > 1  # the two counts score differently
    with pytest.raises(ValueError, match=r"asked for \[3, 9\] of 8 trees"):
        scores_by_trees(long, keyed, ["id"], [3, 9])


def test_reason_contributions_add_up_to_each_row_s_margin(rows):
    model = fitted(rows, 10)
    scored = model.transform(rows).withColumn("p", vector_to_array("probability")[1])
    explained = with_reasons(scored, model, ["a", "b"], count=2).toPandas()
    margin = np.log(explained["p"] / (1 - explained["p"]))
    base = tree_model(model).predict(xgboost.DMatrix(np.zeros((1, 2))), pred_contribs=True)[0, -1]  # the bias
    total = explained["reason_1_contribution"] + explained["reason_2_contribution"] + base
    assert np.allclose(total, margin, atol=1e-4)
    assert set(explained["reason_1"]) <= {"a", "b"}
    vectors = np.array([r.x for r in scored.select(
        vector_to_array(model.stages[-1].getFeaturesCol()).alias("x")).collect()])
    oracle = shap_values(tree_model(model), vectors)  # shap's TreeSHAP on the same trees
    strongest = np.where(oracle[:, 0] >= oracle[:, 1], "a", "b")
    clear = np.abs(oracle[:, 0] - oracle[:, 1]) > 1e-4
    assert (explained["reason_1"].to_numpy()[clear] == strongest[clear]).all()
    assert np.allclose(explained["reason_1_contribution"], oracle.max(axis=1), atol=1e-4)


def test_training_with_learner_gbt_registers_a_gbt_that_scoring_loads_and_explains(spark, small_features,
                                                                                   mlflow_store, tmp_path):
    config = tracked_config(mlflow_store, "model.learner=gbt", f"model.registered_name={NAME}",
                            "model.grid={maxIter: [3, 6], maxDepth: [2]}", "model.gbt={maxBins: 16}",
                            "validation.enabled=false", "scoring.investigate_cards=5", "anomaly.enabled=false")
    summary = train.run(spark, config, small_features[0], str(tmp_path / "training"))
    assert summary["chosen_params"]["maxIter"] in (3, 6) and summary["test"]["auc_roc"]["mean"] > 0.6
    client = MlflowClient(f"sqlite:///{mlflow_store}/mlflow.db")
    version = client.get_model_version_by_alias(NAME, "champion")
    assert version.tags["learner"] == "gbt"
    assert client.get_run(summary["mlflow_run_id"]).data.params["learner"] == "gbt"
    scored = score_job.run(spark, config, small_features[0], str(tmp_path / "publish"), *SCORED_DAYS)
    assert scored["model_version"] == str(version.version) and scored["rows_scored"] > 0
    table = spark.read.parquet(str(tmp_path / "publish" / "scored"))
    assert table.where(F.col("reason_1").isNull() | F.col("risk_score").isNull()).count() == 0
    with mlflow_uris_restored():
        mlflow.set_tracking_uri(f"sqlite:///{mlflow_store}/mlflow.db")
        mlflow.set_registry_uri(f"sqlite:///{mlflow_store}/mlflow.db")
        model = mlflow.spark.load_model(f"models:/{NAME}/{version.version}")
    assert isinstance(model.stages[-1], GBTClassificationModel)
    features = spark.read.parquet(small_features[0]).where(F.col("tx_date") == SCORED_DAYS[0]).limit(20)
    sample = model.transform(features).select("transaction_id", vector_to_array(
        model.stages[-1].getFeaturesCol()).alias("x")).collect()
    oracle = shap_values(tree_model(model), np.array([r.x for r in sample]))  # shap reads Spark GBT models
    inputs = model.stages[0].getInputCols()
    got = {r.transaction_id: r.reason_1 for r in table.where(
        F.col("transaction_id").isin([r.transaction_id for r in sample])).collect()}
    assert [got[r.transaction_id] for r in sample] == [inputs[int(np.argmax(v))] for v in oracle]
