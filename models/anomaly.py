"""Unsupervised anomaly signals (issue 9): fitted on a fold's training block only, applied to any rows.

- k-means distance: standard-scaled inputs (`VectorAssembler` + `StandardScaler` + `KMeans`, a Spark ML
  `PipelineModel`), the Euclidean distance of a row to its nearest centroid. The scaler and k-means are fitted on
  the driver on a random sample of the training rows (`anomaly.kmeans_sample_rows`; NumPy and scikit-learn, in
  Spark's semantics), or in Spark on every row when no sample size is given;
- isolation forest: scikit-learn's `IsolationForest` fitted on a sample of the training rows (one sample, drawn
  in Spark, serves both signals: it is what reaches the driver), applied per Arrow batch with `mapInPandas`; the
  signal is minus `score_samples` (which is lower for more abnormal rows), so that higher means more anomalous;
- the card's robust amount z-score is a feature (`features.card_behaviour`), used as it is.

Each signal is a score on its own ("fraud risk score" of simple systems) and can be a model input. `Signals` is
the pair fitted together: training logs it in a child run of the model's MLflow run (`log_signals`, named by the
parent's tag `anomaly_signals_run_id`) and scoring loads it through the run of the model it scores with
(`load_signals`), so both signals of a scored row come from that model's training block. The child run keeps the
signals apart from the classifier: MLflow 3 links a run's metrics to every model logged in that run.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Sequence

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, functions as F, types as T

KMEANS_DISTANCE, ISOLATION_SCORE = "kmeans_distance", "isolation_forest_score"
_ASSEMBLED, _SCALED, _CLUSTER = "_anomaly_assembled", "_anomaly_scaled", "_anomaly_cluster"


OVERDRAW = 1.2  # a sample asks for this much more than it wants: a Bernoulli sample's size varies


def sample_fraction(rows: int, sample_rows: int) -> float:
    """The fraction of `rows` to sample for about `sample_rows` of them (`OVERDRAW` times as many)."""
    return min(1.0, OVERDRAW * sample_rows / max(rows, 1))


def draw_sample(train: DataFrame, inputs: Sequence[str], sample_rows: int, seed: int,
                rows: int | None = None) -> pd.DataFrame:
    """About `sample_rows` of the training rows' `inputs` drawn at random in Spark (`rows`: their count, when
    known), on the driver: a bounded sample, not the table."""
    fraction = sample_fraction(train.count() if rows is None else rows, sample_rows)
    return train.select(*inputs).sample(fraction=fraction, seed=seed).toPandas().astype(float)


def fit_kmeans(train: DataFrame, inputs: Sequence[str], k: int, seed: int, max_iter: int = 20,
               sample_rows: int | None = None, rows: int | None = None,
               sample: pd.DataFrame | None = None) -> PipelineModel:
    """The scaler and k-means: fitted in Spark on every training row, or (`sample_rows`) on the driver on about
    that many drawn at random from them (`draw_sample`, or `sample` when given; `rows`: their count, when known).
    Either way a Spark `PipelineModel` of the same stages, which applies them in Spark."""
    stages = [VectorAssembler(inputCols=list(inputs), outputCol=_ASSEMBLED),
              StandardScaler(inputCol=_ASSEMBLED, outputCol=_SCALED, withMean=True, withStd=True),
              KMeans(featuresCol=_SCALED, predictionCol=_CLUSTER, k=k, seed=seed, maxIter=max_iter)]
    if sample_rows is None and sample is None:
        return Pipeline(stages=stages).fit(train)
    if sample is None:
        sample = draw_sample(train, inputs, sample_rows, seed, rows)
    return _fitted_on_driver(stages, sample[list(inputs)].to_numpy(dtype=np.float64), k, seed, max_iter)


def _fitted_on_driver(stages: list, x: np.ndarray, k: int, seed: int, max_iter: int) -> PipelineModel:
    """The pipeline's scaler and k-means fitted on `x` with NumPy and scikit-learn (Lloyd's k-means from k-means++
    seeds), as Spark ML's models: a sample's fit is a few hundred milliseconds here against a Spark job an
    iteration. Spark's scaler semantics: the sample standard deviation, an input of none scaled to 0."""
    from pyspark import SparkContext
    from pyspark.ml.clustering import KMeansModel
    from pyspark.ml.feature import StandardScalerModel
    from sklearn.cluster import KMeans as DriverKMeans

    if len(x) == 0:
        raise ValueError("fit_kmeans: the training rows are empty")
    mean = x.mean(axis=0)
    std = x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
    scaled = np.divide(x - mean, std, out=np.zeros_like(x), where=std != 0)
    clusters = DriverKMeans(n_clusters=min(k, len(np.unique(scaled, axis=0))), n_init=1, max_iter=max_iter,
                            random_state=seed).fit(scaled)
    context = SparkContext._active_spark_context
    jvm, gateway = context._jvm, context._gateway

    def doubles(values: np.ndarray):
        array = gateway.new_array(gateway.jvm.double, len(values))
        for i, value in enumerate(values):
            array[i] = float(value)
        return array

    assembler, scaler, kmeans = stages
    java_scaler = jvm.org.apache.spark.ml.feature.StandardScalerModel(
        scaler.uid, jvm.org.apache.spark.ml.linalg.Vectors.dense(doubles(std)),
        jvm.org.apache.spark.ml.linalg.Vectors.dense(doubles(mean)))
    centers = gateway.new_array(jvm.org.apache.spark.mllib.linalg.Vector, len(clusters.cluster_centers_))
    for i, center in enumerate(clusters.cluster_centers_):
        centers[i] = jvm.org.apache.spark.mllib.linalg.Vectors.dense(doubles(center))
    java_kmeans = jvm.org.apache.spark.ml.clustering.KMeansModel(
        kmeans.uid, jvm.org.apache.spark.mllib.clustering.KMeansModel(centers))
    fitted = []
    for estimator, model in ((scaler, StandardScalerModel(java_scaler)), (kmeans, KMeansModel(java_kmeans))):
        model = estimator._copyValues(model)  # the estimator's columns and settings, as Spark's fit copies them
        model._transfer_params_to_java()
        fitted.append(model)
    return PipelineModel([assembler, *fitted])


def with_kmeans_distance(df: DataFrame, model: PipelineModel, name: str = KMEANS_DISTANCE) -> DataFrame:
    """`df` with the distance of each row (scaled as in training) to its nearest centroid."""
    centers = F.array(*[F.array(*[F.lit(float(v)) for v in center]) for center in model.stages[-1].clusterCenters()])
    point = vector_to_array(F.col(_SCALED))
    center = F.element_at(centers, F.col(_CLUSTER) + 1)
    squared = F.aggregate(F.zip_with(point, center, lambda x, c: (x - c) * (x - c)), F.lit(0.0),
                          lambda total, x: total + x)
    return model.transform(df).select(*df.columns, F.sqrt(squared).alias(name))


def fit_isolation_forest(train: DataFrame, inputs: Sequence[str], sample_rows: int, seed: int,
                         trees: int = 100, rows: int | None = None, sample: pd.DataFrame | None = None):
    """An IsolationForest fitted on `sample_rows` training rows drawn at random (`draw_sample`, or from `sample`
    when given; `rows`: their count, when known)."""
    from sklearn.ensemble import IsolationForest

    if sample is None:
        sample = draw_sample(train, inputs, sample_rows, seed, rows)
    if sample.empty:
        raise ValueError("fit_isolation_forest: the training rows are empty")
    sample = sample[list(inputs)]
    if len(sample) > sample_rows:
        sample = sample.sample(n=sample_rows, random_state=seed)
    # fitted on named columns: the forest keeps its inputs (`feature_names_in_`) for whoever loads it
    return IsolationForest(n_estimators=trees, random_state=seed).fit(sample)


def with_isolation_score(df: DataFrame, forest, inputs: Sequence[str], name: str = ISOLATION_SCORE) -> DataFrame:
    """`df` with minus the forest's `score_samples` of each row (higher: more anomalous), per Arrow batch."""
    columns = list(inputs)
    schema = T.StructType([*df.schema.fields, T.StructField(name, T.DoubleType())])

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch):
                yield batch.assign(**{name: -forest.score_samples(batch[columns].astype(float))})

    return df.mapInPandas(per_batch, schema)


SIGNALS = (KMEANS_DISTANCE, ISOLATION_SCORE)
KMEANS_ARTIFACT, FOREST_ARTIFACT = "anomaly_kmeans", "anomaly_isolation_forest"


@dataclasses.dataclass(frozen=True)
class Signals:
    """Both signals fitted on one set of rows, over the same label-free `inputs`."""
    inputs: tuple[str, ...]
    kmeans: PipelineModel
    forest: object  # sklearn.ensemble.IsolationForest

    def apply(self, df: DataFrame) -> DataFrame:
        """`df` with `kmeans_distance` and `isolation_forest_score`."""
        return with_isolation_score(with_kmeans_distance(df, self.kmeans), self.forest, self.inputs)


def fit_signals(train: DataFrame, inputs: Sequence[str], k: int, sample_rows: int, trees: int, seed: int,
                kmeans_sample_rows: int | None = None) -> Signals:
    """Both signals on `train`: the forest on `sample_rows` of its rows, k-means on about `kmeans_sample_rows` (None:
    all of them, in Spark); one sample drawn for both, after one count."""
    missing = [name for name in inputs if name not in train.columns]
    if missing:
        raise ValueError(f"anomaly.inputs: {missing[0]} is not a column of the training rows (anomaly signals need "
                         f"every input; switch its feature family on or drop it from anomaly.inputs)")
    sample = draw_sample(train, inputs, max(sample_rows, kmeans_sample_rows or 0), seed)
    if kmeans_sample_rows is None:
        kmeans = fit_kmeans(train, inputs, k, seed)
    else:
        drawn = sample if len(sample) <= OVERDRAW * kmeans_sample_rows else sample.sample(
            n=round(OVERDRAW * kmeans_sample_rows), random_state=seed)
        kmeans = fit_kmeans(train, inputs, k, seed, sample=drawn)
    return Signals(tuple(inputs), kmeans, fit_isolation_forest(train, inputs, sample_rows, seed, trees, sample=sample))


SIGNALS_RUN_TAG = "anomaly_signals_run_id"  # on the model's run: its child run holding the signals


@contextlib.contextmanager
def signals_run() -> Iterator[mlflow.ActiveRun]:
    """The active run's child run for the anomaly signals (their models, their metrics alone), made on first use
    and named in the parent's tag `SIGNALS_RUN_TAG`; the parent is the active run again afterwards."""
    client, parent = MlflowClient(), mlflow.active_run().info
    existing = client.get_run(parent.run_id).data.tags.get(SIGNALS_RUN_TAG)
    # in the parent's experiment, whatever experiment is set as the active one
    with mlflow.start_run(run_id=existing, experiment_id=None if existing else parent.experiment_id,
                          run_name=None if existing else "anomaly signals", nested=True) as child:
        if existing is None:
            mlflow.set_tags({"kind": "anomaly_signals"})
            client.set_tag(parent.run_id, SIGNALS_RUN_TAG, child.info.run_id)
        yield child


def log_signals(signals: Signals, pip_requirements: list[str], alone: dict[str, dict] | None = None) -> None:
    """Both models in the active run's signals run (`signals_run`; Spark and scikit-learn flavours; the forest's
    requirements add the scikit-learn that fitted it), then `alone` ({signal: {metric: {mean, std, folds}}}, each
    signal assessed alone on the test folds) as test_<signal>_<metric>, each linked to its own model: logged after
    the models, so that MLflow links no metric to a model on its own."""
    import sklearn

    from models.tracking import log_fold_metrics

    with signals_run():
        kmeans = mlflow.spark.log_model(signals.kmeans, KMEANS_ARTIFACT, pip_requirements=pip_requirements)
        forest = mlflow.sklearn.log_model(signals.forest, name=FOREST_ARTIFACT,
                                          pip_requirements=[*pip_requirements, f"scikit-learn=={sklearn.__version__}"])
        owners = {KMEANS_DISTANCE: kmeans, ISOLATION_SCORE: forest}
        for signal, metrics in (alone or {}).items():
            log_fold_metrics(f"test_{signal}", metrics, getattr(owners[signal], "model_id", None))


def load_signals(run_id: str) -> Signals:
    """The signals logged with the model of `run_id`; a model trained without them is an error naming the run."""
    run_id = MlflowClient().get_run(run_id).data.tags.get(SIGNALS_RUN_TAG, run_id)  # older models: the run itself
    try:
        kmeans = mlflow.spark.load_model(f"runs:/{run_id}/{KMEANS_ARTIFACT}")
        forest = mlflow.sklearn.load_model(f"runs:/{run_id}/{FOREST_ARTIFACT}")
    except (MlflowException, OSError) as exc:
        raise LookupError(f"run {run_id} in {mlflow.get_tracking_uri()} has no anomaly signals (a model trained with "
                          f"anomaly.enabled=false or before they existed): retrain it, or score with "
                          f"anomaly.enabled=false") from exc
    return Signals(tuple(kmeans.stages[0].getInputCols()), kmeans, forest)
