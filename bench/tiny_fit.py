"""The fixed cost of one fit and score per learner, on tiny data (what the test suite's training runs pay):

    .venv/bin/python bench/tiny_fit.py [--rows 3000] [--repeats 4]

Fits the model's pipeline (assembler, scaler, classifier: 6 trees of depth 2, 16 bins) on ROWS cached rows and scores
them (a `noop` write), REPEATS times per learner in one local[2] session; prints each try's seconds (the first
includes the learner's warm-up).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyspark.sql import SparkSession  # noqa: E402

from models.pipeline import GBT_DEFAULTS, XGBOOST_DEFAULTS, build_pipeline  # noqa: E402

PARAMS = {"xgboost": {**XGBOOST_DEFAULTS, "max_bin": 16, "n_estimators": 6, "max_depth": 2},
          "gbt": {**GBT_DEFAULTS, "maxBins": 16, "maxIter": 6, "maxDepth": 2}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = SparkSession.builder.master("local[2]").getOrCreate()
    data = [(float(i % 17), float((i * 7) % 11), int((i % 17) > 12 or (i % 5 == 0))) for i in range(args.rows)]
    rows = spark.createDataFrame(data, "a double, b double, tx_fraud int").cache()
    rows.count()
    for learner, params in PARAMS.items():
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            pipeline = build_pipeline(["a", "b"], "tx_fraud", params, scale=True, weighted=False, learner=learner)
            model = pipeline.fit(rows)
            model.transform(rows).write.format("noop").mode("overwrite").save()
            seconds.append(round(time.perf_counter() - started, 2))
        print(f"{learner}: {seconds}", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
