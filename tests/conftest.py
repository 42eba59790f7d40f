"""One Spark session for the whole test run (local[2], 2 shuffle partitions, UTC, UI off), and small data sets
made once by the real jobs."""
from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from conf import Config, load_config
from jobs import build_features, generate
from jobs.common import build_session

TEST_OVERRIDES = ("spark.shuffle_partitions=2", "spark.master=local[2]", "spark.driver_memory=2g")


def config_for_tests(*overrides: str) -> Config:
    return load_config(None, [*TEST_OVERRIDES, *overrides])


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """The jobs' own session builder with the test config: local[2], 2 shuffle partitions, UTC, UI off."""
    session = build_session(config_for_tests())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


SMALL_SIMULATION = ("simulator.customers=300", "simulator.terminals=600", "simulator.days=50",
                    "simulator.start_date=2018-04-01", "simulator.seed=7")


@pytest.fixture(scope="session")
def small_raw(spark, tmp_path_factory) -> str:
    """A generated raw data set: 300 cards, 600 terminals, 50 days from 2018-04-01. Returns its folder."""
    folder = str(tmp_path_factory.mktemp("raw"))
    generate.run(spark, config_for_tests(*SMALL_SIMULATION), folder)
    return folder


@pytest.fixture(scope="session")
def small_features(spark, small_raw, tmp_path_factory) -> tuple[str, dict]:
    """The feature job's output for `small_raw`, all dates: (folder, the job's summary)."""
    output = str(tmp_path_factory.mktemp("features"))
    return output, build_features.run(spark, config_for_tests(), f"{small_raw}/transactions", output)
