"""One Spark session for the whole test run (local[2], 2 shuffle partitions, UTC, UI off), and small data sets
made once by the real jobs."""
from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from conf import Config, load_config
import datetime as dt
import socket

from jobs import build_features, generate, score, train
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


# The small set holds 2018-04-01 .. 05-20: two validation folds train from 04-08 and 04-01, two test folds from
# 04-29 and 04-22, and the final block is 05-07 .. 05-13.
SMALL_PROTOCOL = ("protocol.training_start=2018-04-22", "protocol.folds=2")
SMALL_GRID = ("model.grid={maxIter: [3, 6], maxDepth: [2]}", "model.gbt={maxBins: 16}")
TEST_MODEL_NAME = "fraud-gbt-test"


def tracked_config(store, *extra: str) -> Config:
    """The test config with a small protocol and grid, tracking to the SQLite store in folder `store`."""
    return config_for_tests(*SMALL_PROTOCOL, *SMALL_GRID, f"tracking.tracking_uri=sqlite:///{store}/mlflow.db",
                            f"tracking.artifact_root={store}/artifacts", f"model.registered_name={TEST_MODEL_NAME}",
                            *extra)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A fresh MLflow store folder; MLFLOW_TRACKING_URI from the environment must not redirect the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="session")
def trained(spark, small_features, mlflow_store, tmp_path_factory) -> tuple:
    """The training job run once on the small set: (its output folder, its summary). Its model is the champion."""
    output = tmp_path_factory.mktemp("training")
    return output, train.run(spark, tracked_config(mlflow_store), small_features[0], str(output))


SCORED_DAYS = (dt.date(2018, 5, 19), dt.date(2018, 5, 20))
QUEUE_SIZE = 5


@pytest.fixture(scope="session")
def scored_publish(spark, trained, small_features, mlflow_store, tmp_path_factory) -> tuple:
    """The scoring job on the last two small dates with the trained champion: (publish folder, its summary)."""
    output = tmp_path_factory.mktemp("publish")
    config = tracked_config(mlflow_store, f"scoring.investigate_cards={QUEUE_SIZE}")
    return output, score.run(spark, config, small_features[0], str(output), *SCORED_DAYS)


@pytest.fixture(scope="session")
def aws_endpoint() -> str:
    """A real local AWS endpoint: moto in server mode on 127.0.0.1, reached by boto3 over HTTP like AWS itself."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(key, value)
        yield f"http://127.0.0.1:{port}"
    server.stop()


def sns_inbox(sns, sqs, name: str) -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed to it, so a test can read what was published: (topic, queue url)."""
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url
