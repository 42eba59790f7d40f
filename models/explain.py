"""Reason codes: each transaction's own SHAP contributions of the tree model (TreeSHAP, `shap` library), and the
features that pushed its score up the most.

The explainer reads the classifier's trees (Spark's GBT or XGBoost's booster) once on the driver (a few thousand nodes) and travels to the executors as
plain arrays; contributions are computed per Arrow batch in `mapInPandas`, on the vector the GBT itself sees
(after the pipeline's scaler, which maps each input to one vector slot, so a slot's contribution is its
feature's). Contributions are in the model's margin (log-odds) units and add up to the margin.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import shap
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, functions as F, types as T

from models.pipeline import is_xgboost, tree_model

REASONS = 3
_VECTOR = "_gbt_input"


def reason_columns(count: int = REASONS) -> list[T.StructField]:
    fields = []
    for i in range(1, count + 1):
        fields += [T.StructField(f"reason_{i}", T.StringType()), T.StructField(f"reason_{i}_contribution",
                                                                                T.DoubleType())]
    return fields


def _contributions(model: PipelineModel) -> Callable[[np.ndarray], np.ndarray]:
    """A function of an input matrix giving its rows' contributions (rows x inputs), to ship to the executors."""
    if is_xgboost(model):
        # XGBoost computes TreeSHAP itself (the last column is the bias); its booster travels as its raw bytes
        raw = bytes(tree_model(model).save_raw("ubj"))

        def xgboost_contributions(matrix: np.ndarray) -> np.ndarray:
            import xgboost

            booster = xgboost.Booster(model_file=bytearray(raw))
            return booster.predict(xgboost.DMatrix(matrix), pred_contribs=True)[:, :-1]
        return xgboost_contributions
    explainer = shap.TreeExplainer(tree_model(model))
    explainer.model.original_model = None  # the JVM model stays on the driver; the arrays are all it needs

    def gbt_contributions(matrix: np.ndarray) -> np.ndarray:
        return np.asarray(explainer.shap_values(matrix, check_additivity=False)).reshape(len(matrix), -1)
    return gbt_contributions


def top_reasons(contributions: np.ndarray, names: Sequence[str], count: int = REASONS) -> pd.DataFrame:
    """Per row, the `count` features with the largest contributions (most fraud-ward first; ties by feature
    order) and their values."""
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :count]
    columns = {}
    for i in range(count):
        columns[f"reason_{i + 1}"] = np.asarray(names, dtype=object)[order[:, i]]
        columns[f"reason_{i + 1}_contribution"] = np.take_along_axis(contributions, order[:, [i]], axis=1)[:, 0]
    return pd.DataFrame(columns)


def with_reasons(scored: DataFrame, model: PipelineModel, features: Sequence[str], count: int = REASONS) -> DataFrame:
    """`scored` is `model.transform(...)` output (it still carries the GBT's input vector); adds reason_1..count
    and their contributions, and drops the pipeline's intermediate columns."""
    gbt_input = model.stages[-1].getFeaturesCol()
    contributions_of, names = _contributions(model), list(features)
    keep = [c for c in scored.columns if not c.startswith("_") and c not in ("rawPrediction", "probability",
                                                                               "prediction")]
    out_schema = T.StructType([*[scored.schema[c] for c in keep], *reason_columns(count)])

    def explain(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            matrix = np.vstack(batch[_VECTOR].to_numpy()) if len(batch) else np.zeros((0, len(names)))
            reasons = top_reasons(contributions_of(matrix), names, count)
            yield pd.concat([batch[keep].reset_index(drop=True), reasons], axis=1)

    return scored.select(*keep, vector_to_array(F.col(gbt_input)).alias(_VECTOR)).mapInPandas(explain, out_schema)
