"""The model: a Spark ML `Pipeline` of a vector assembler, an optional standard scaler and a gradient-boosted tree
classifier, with its parameter grid and class weights taken from config.

The classifier (`model.learner`) is Spark ML's `GBTClassifier` or XGBoost's `SparkXGBClassifier` (a pyspark.ml
Estimator; `hist` trees). The grid names GBTClassifier's parameters for both; `XGBOOST_NAMES` gives their
XGBoost names, and a setting carries the learner's own names (what MLflow logs).
"""
from __future__ import annotations

import itertools
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from pyspark import SparkContext
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassificationModel, GBTClassifier
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.param import Param
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, functions as F, types as T

from conf import ConfigError, ModelConf

# Spark's maxBins=32 puts about 3 % of the amounts in each split bin: too coarse to split near the scenario-1
# threshold (220), which sits in the top 0.2 % (handbook §6). 1024 bins (0.1 %) raised the validation folds' AP
# from 0.644 to 0.688 over 128 bins (100 trees, depth 3, step 0.3). The seed makes fits repeatable.
GBT_DEFAULTS: Mapping[str, Any] = {"maxBins": 1024, "seed": 42}
# XGBoost's histogram method with bins as fine as GBT's (coarse bins cost AP here, as they do for GBT)
XGBOOST_DEFAULTS: Mapping[str, Any] = {"tree_method": "hist", "max_bin": 1024, "random_state": 42}
# GBTClassifier's names (the grid's) in SparkXGBClassifier's words
XGBOOST_NAMES: Mapping[str, str] = {"maxIter": "n_estimators", "maxDepth": "max_depth", "stepSize": "learning_rate",
                                    "subsamplingRate": "subsample", "maxBins": "max_bin", "seed": "random_state"}
# each learner's parameter for its number of trees, and that parameter's default
TREES: Mapping[str, tuple[str, int]] = {"gbt": ("maxIter", 20), "xgboost": ("n_estimators", 100)}
SCORE = "score"
WEIGHT = "class_weight"
_ASSEMBLED, _SCALED = "_assembled", "_scaled"


def _xgboost_classifier() -> type:
    # imported when used: GBT fits need no xgboost
    from models.xgboost_fit import XGBoostClassifier

    return XGBoostClassifier


def _check_params(params: Mapping[str, Any], where: str, estimator: type) -> None:
    for name in params:
        if not isinstance(getattr(estimator, name, None), Param):  # params are class attributes: no session
            # named by the library class whose documentation lists the parameters, not by our subclass of it
            documented = next(c for c in estimator.__mro__ if not c.__module__.startswith("models."))
            raise ConfigError(f"{where}.{name} is not a {documented.__name__} parameter")


def parameter_settings(model: ModelConf) -> list[dict[str, Any]]:
    """Every combination of the grid over the fixed parameters, in a stable order (the grid's key order), in the
    learner's own parameter names."""
    _check_params(model.grid, "model.grid", GBTClassifier)
    if model.learner == "xgboost":
        untranslated = sorted(set(model.grid) - set(XGBOOST_NAMES))
        if untranslated:
            raise ConfigError(f"model.grid: {', '.join(untranslated)} has no XGBoost counterpart (grid parameters "
                              f"with learner xgboost: {', '.join(XGBOOST_NAMES)})")
        _check_params(model.xgboost, "model.xgboost", _xgboost_classifier())
        fixed, grid = {**XGBOOST_DEFAULTS, **model.xgboost}, {XGBOOST_NAMES[k]: v for k, v in model.grid.items()}
    else:
        _check_params(model.gbt, "model.gbt", GBTClassifier)
        fixed, grid = {**GBT_DEFAULTS, **model.gbt}, dict(model.grid)
    return [{**fixed, **dict(zip(grid, values))} for values in itertools.product(*grid.values())]


def tree_count(params: Mapping[str, Any], learner: str) -> int:
    name, default = TREES[learner]
    return int(params.get(name, default))


def fraud_weight(class_weight: str | None, frauds: int, rows: int) -> float | None:
    """The weight of a fraud row: None (unweighted), 'balanced' (non-frauds per fraud) or a number."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        return (rows - frauds) / max(frauds, 1)
    try:
        weight = float(class_weight)
    except ValueError:
        raise ConfigError(f"model.class_weight must be null, 'balanced' or a number, got {class_weight!r}") from None
    if weight <= 0:
        raise ConfigError(f"model.class_weight must be positive, got {weight}")
    return weight


def with_class_weight(df: DataFrame, label: str, weight: float) -> DataFrame:
    return df.withColumn(WEIGHT, F.when(F.col(label) == 1, F.lit(weight)).otherwise(F.lit(1.0)))


def build_pipeline(features: list[str], label: str, params: Mapping[str, Any], scale: bool,
                   weighted: bool, learner: str = "gbt") -> Pipeline:
    assembler = VectorAssembler(inputCols=list(features), outputCol=_ASSEMBLED, handleInvalid="error")
    stages = [assembler]
    if scale:
        stages.append(StandardScaler(inputCol=_ASSEMBLED, outputCol=_SCALED, withMean=True, withStd=True))
    vector = _SCALED if scale else _ASSEMBLED
    if learner == "xgboost":
        # one training task by default (the vectors are dense arrays to it, so a zero is a value, not a missing
        # one), which reads the rows as they are (models.xgboost_fit); `model.xgboost: {num_workers: N}` for N at
        # once on a cluster, which the rows reach through a shuffle: a barrier stage refuses a coalesced input
        # (SPARK-24820)
        classifier = _xgboost_classifier()(features_col=vector, label_col=label,
                                           weight_col=WEIGHT if weighted else None,
                                           **{"num_workers": 1, "force_repartition": params.get("num_workers", 1) > 1,
                                              **dict(params)})
    else:
        classifier = GBTClassifier(featuresCol=vector, labelCol=label, **dict(params))
        if weighted:
            classifier.setWeightCol(WEIGHT)
    return Pipeline(stages=[*stages, classifier])


def fraud_probability() -> Column:
    return vector_to_array(F.col("probability"))[1]


def score(model: PipelineModel, df: DataFrame, keep: list[str]) -> DataFrame:
    """`keep` columns of `df` and the model's fraud probability as `score`."""
    return model.transform(df).select(*keep, fraud_probability().alias(SCORE))


def scores_by_trees(model: PipelineModel, df: DataFrame, keep: list[str], trees: list[int]) -> DataFrame:
    """`keep` columns of `df` and, for each n of `trees`, the fraud probability of the model's first n trees as
    `score_<n>`: with XGBoost in one pass over the rows (one prediction a count, from the same booster); with GBT a
    pass a count (`first_trees`)."""
    if not all(1 <= n <= number_of_trees(model) for n in trees):
        raise ValueError(f"scores_by_trees: asked for {trees} of {number_of_trees(model)} trees")
    names = [f"{SCORE}_{n}" for n in trees]
    if not is_xgboost(model):
        scored = df
        for n, name in zip(trees, names):
            kept = model if n == number_of_trees(model) else first_trees(model, n)
            scored = score(kept, scored, scored.columns).withColumnRenamed(SCORE, name)
        return scored.select(*keep, *names)
    raw = bytes(tree_model(model).save_raw("ubj"))  # shipped with the function, loaded once a batch stream
    vectors = PipelineModel(model.stages[:-1]).transform(df)

    @F.pandas_udf(T.ArrayType(T.DoubleType()))
    def predict(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
        from xgboost import Booster

        booster = Booster(model_file=bytearray(raw))
        booster.set_param({"nthread": 1})
        for batch in batches:
            x = np.stack(batch.to_numpy()) if len(batch) else np.empty((0, booster.num_features()))
            columns = [booster.inplace_predict(x, iteration_range=(0, n)) for n in trees]
            yield pd.Series(list(np.column_stack(columns)) if len(batch) else [], dtype=object)

    features = vector_to_array(F.col(model.stages[-1].getFeaturesCol()))
    scored = vectors.select(*keep, predict(features).alias("_scores"))
    return scored.select(*keep, *[F.col("_scores")[i].alias(name) for i, name in enumerate(names)])


def is_xgboost(model: PipelineModel) -> bool:
    return hasattr(model.stages[-1], "get_booster")


def tree_model(model: PipelineModel):
    """What TreeSHAP reads: the Spark GBT model, or the XGBoost model's booster."""
    stage = model.stages[-1]
    return stage.get_booster() if is_xgboost(model) else stage


def number_of_trees(model: PipelineModel) -> int:
    return tree_model(model).num_boosted_rounds() if is_xgboost(model) else model.stages[-1].getNumTrees


def feature_importances(model: PipelineModel, features: list[str]) -> list[tuple[str, float]]:
    """(feature, importance) of the fitted classifier, most important first: each feature's share of the trees'
    total gain (what Spark's featureImportances is; XGBoost names the vector's slots f0, f1, ...)."""
    if is_xgboost(model):
        gains = tree_model(model).get_score(importance_type="total_gain")
        total = sum(gains.values()) or 1.0
        importances = [gains.get(f"f{i}", 0.0) / total for i in range(len(features))]
    else:
        importances = model.stages[-1].featureImportances.toArray()
    return sorted(zip(features, map(float, importances)), key=lambda pair: -pair[1])


def grows_by_prefix(params: Mapping[str, Any], learner: str = "gbt") -> bool:
    """True when a fit's first n trees are exactly a fit with n trees: tree m depends only on the trees before it
    (and for GBT on seed + m), unless rows are subsampled or features drawn at random."""
    if learner == "xgboost":
        return (all(float(params.get(name, 1.0)) == 1.0 for name in ("subsample", "colsample_bytree",
                                                                      "colsample_bylevel", "colsample_bynode"))
                and int(params.get("num_parallel_tree", 1)) == 1
                and not params.get("validation_indicator_col") and not params.get("early_stopping_rounds"))
    return (float(params.get("subsamplingRate", 1.0)) == 1.0
            and params.get("featureSubsetStrategy", "all") in ("all", "auto")
            and "validationIndicatorCol" not in params)


def _first_xgboost_trees(stage, trees: int):
    from xgboost import XGBClassifier
    from xgboost.spark import SparkXGBClassifierModel

    kept = XGBClassifier()
    kept.load_model(bytearray(stage.get_booster()[:trees].save_raw("ubj")))
    return stage._copyValues(SparkXGBClassifierModel(kept))


def first_trees(model: PipelineModel, trees: int) -> PipelineModel:
    """The pipeline with only the first `trees` trees of its classifier (see `grows_by_prefix`)."""
    if not 1 <= trees <= number_of_trees(model):
        raise ValueError(f"first_trees: asked for {trees} of {number_of_trees(model)} trees")
    if is_xgboost(model):
        return PipelineModel([*model.stages[:-1], _first_xgboost_trees(model.stages[-1], trees)])
    gbt = model.stages[-1]
    context = SparkContext._active_spark_context
    jvm, gateway, java = context._jvm, context._gateway, gbt._java_obj
    all_trees, all_weights = java.trees(), java.treeWeights()
    kept = gateway.new_array(jvm.org.apache.spark.ml.regression.DecisionTreeRegressionModel, trees)
    weights = gateway.new_array(gateway.jvm.double, trees)
    for i in range(trees):
        kept[i], weights[i] = all_trees[i], all_weights[i]
    java_model = jvm.org.apache.spark.ml.classification.GBTClassificationModel(java.uid(), kept, weights,
                                                                               java.numFeatures())
    truncated = gbt._copyValues(GBTClassificationModel(java_model))
    truncated._transfer_params_to_java()
    return PipelineModel([*model.stages[:-1], truncated])
