"""Same features and model -> the same scores to the bit, whatever the run, the shuffle partitions and the way
the input is split into files."""
from __future__ import annotations

import glob

import duckdb
import numpy as np
import pyarrow as pa
from pyspark.sql import functions as F

from jobs import score
from tests.conftest import QUEUE_SIZE, SCORED_DAYS, TEST_MODEL_NAME, tracked_config
from tests.reliability.harness import digests

RUN_DEPENDENT = ("scored_at",)


def scored_rows(table) -> pa.Table:
    return duckdb.sql(f"SELECT * EXCLUDE (scored_at) FROM read_parquet('{table}/tx_date=*/*.parquet', "
                      "hive_partitioning = true) ORDER BY transaction_id").fetch_arrow_table()


def bits(column: pa.ChunkedArray) -> np.ndarray:
    """A column's values as their exact bit patterns (floats) or as they are."""
    values = column.to_numpy(zero_copy_only=False)
    return values.view(np.uint64) if values.dtype == np.float64 else values


def test_scores_are_bit_identical_across_runs_partition_counts_and_file_splits(spark, small_features, scored_publish,
                                                                               mlflow_store, tmp_path):
    split = tmp_path / "features"
    (spark.read.parquet(small_features[0]).where(F.col("tx_date").isin(list(SCORED_DAYS)))
     .repartition(3).write.partitionBy("tx_date").parquet(str(split)))
    assert len(glob.glob(f"{split}/tx_date={SCORED_DAYS[0]}/*.parquet")) > 1  # not the one file a day it was
    # the version the reference run scored with: other tests retrain and may promote a new champion meanwhile
    version = scored_publish[1]["model_version"]
    config = tracked_config(mlflow_store, f"scoring.investigate_cards={QUEUE_SIZE}", "spark.shuffle_partitions=5",
                            "validation.enabled=false", f"scoring.model_uri=models:/{TEST_MODEL_NAME}/{version}")
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "5")
    try:
        score.run(spark, config, str(split), str(tmp_path / "out"), *SCORED_DAYS)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    got, want = scored_rows(tmp_path / "out" / "scored"), scored_rows(scored_publish[0] / "scored")
    assert got.column_names == want.column_names and got.num_rows == want.num_rows > 0
    for name in want.column_names:
        assert np.array_equal(bits(got.column(name)), bits(want.column(name))), name
    assert digests(tmp_path / "out" / "alerts") == digests(scored_publish[0] / "alerts")
