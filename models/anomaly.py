"""Unsupervised anomaly signals (issue 9): fitted on a fold's training block only, applied to any rows.

- k-means distance: standard-scaled inputs (`VectorAssembler` + `StandardScaler` + Spark ML `KMeans`, all fitted
  on the training rows), the Euclidean distance of a row to its nearest centroid;
- isolation forest: scikit-learn's `IsolationForest` fitted on a sample of the training rows (the sample is what
  reaches the driver), applied per Arrow batch with `mapInPandas`; the signal is minus `score_samples` (which is
  lower for more abnormal rows), so that higher means more anomalous, like the others;
- the card's robust amount z-score is a feature (`features.card_behaviour`), used as it is.

Each signal is a score on its own ("fraud risk score" of simple systems) and a model input.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, functions as F, types as T

KMEANS_DISTANCE, ISOLATION_SCORE = "kmeans_distance", "isolation_forest_score"
_ASSEMBLED, _SCALED, _CLUSTER = "_anomaly_assembled", "_anomaly_scaled", "_anomaly_cluster"


def fit_kmeans(train: DataFrame, inputs: Sequence[str], k: int, seed: int, max_iter: int = 20) -> PipelineModel:
    stages = [VectorAssembler(inputCols=list(inputs), outputCol=_ASSEMBLED),
              StandardScaler(inputCol=_ASSEMBLED, outputCol=_SCALED, withMean=True, withStd=True),
              KMeans(featuresCol=_SCALED, predictionCol=_CLUSTER, k=k, seed=seed, maxIter=max_iter)]
    return Pipeline(stages=stages).fit(train)


def with_kmeans_distance(df: DataFrame, model: PipelineModel, name: str = KMEANS_DISTANCE) -> DataFrame:
    """`df` with the distance of each row (scaled as in training) to its nearest centroid."""
    centers = F.array(*[F.array(*[F.lit(float(v)) for v in center]) for center in model.stages[-1].clusterCenters()])
    point = vector_to_array(F.col(_SCALED))
    center = F.element_at(centers, F.col(_CLUSTER) + 1)
    squared = F.aggregate(F.zip_with(point, center, lambda x, c: (x - c) * (x - c)), F.lit(0.0),
                          lambda total, x: total + x)
    return model.transform(df).select(*df.columns, F.sqrt(squared).alias(name))


def fit_isolation_forest(train: DataFrame, inputs: Sequence[str], sample_rows: int, seed: int,
                         trees: int = 100):
    """An IsolationForest fitted on about `sample_rows` training rows drawn at random (a sample, not the table)."""
    from sklearn.ensemble import IsolationForest

    rows = train.count()
    fraction = min(1.0, 1.2 * sample_rows / max(rows, 1))
    sample = train.select(*inputs).sample(fraction=fraction, seed=seed).limit(sample_rows).toPandas()
    return IsolationForest(n_estimators=trees, random_state=seed).fit(sample.to_numpy(dtype=float))


def with_isolation_score(df: DataFrame, forest, inputs: Sequence[str], name: str = ISOLATION_SCORE) -> DataFrame:
    """`df` with minus the forest's `score_samples` of each row (higher: more anomalous), per Arrow batch."""
    columns = list(inputs)
    schema = T.StructType([*df.schema.fields, T.StructField(name, T.DoubleType())])

    def per_batch(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch):
                yield batch.assign(**{name: -forest.score_samples(batch[columns].to_numpy(dtype=float))})

    return df.mapInPandas(per_batch, schema)
