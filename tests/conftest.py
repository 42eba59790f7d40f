"""One Spark session for the whole test run (local[2], 2 shuffle partitions, UTC, UI off), and small data sets
made once by the real jobs."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import socket
import tempfile
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession

from conf import Config, load_config
from jobs import pipeline
from jobs.common import build_session

# `python -m jobs.cli` in a test writes its log file here, not into the working tree's logs/
os.environ.setdefault("FRAUD_LOG_DIR", tempfile.mkdtemp(prefix="fraud-test-logs-"))

TEST_OVERRIDES = ("spark.shuffle_partitions=2", "spark.master=local[2]", "spark.driver_memory=2g",
                  # small anomaly models, assessed alone only in the shared pipeline run (`pipeline_run`)
                  "anomaly.kmeans_k=2", "anomaly.isolation_trees=10", "anomaly.isolation_sample_rows=2000",
                  "anomaly.evaluate=false")


def config_for_tests(*overrides: str) -> Config:
    return load_config(None, [*TEST_OVERRIDES, *overrides])


def iceberg_settings(folder) -> tuple[str, ...]:
    """The settings of an embedded Iceberg catalog (JDBC on a SQLite file) in `folder`, under a catalog name of
    its own (a session keeps the first catalog it loads under a name)."""
    name = "ice_" + hashlib.sha1(str(folder).encode()).hexdigest()[:10]
    return ("catalog.kind=jdbc", f"catalog.name={name}", f"catalog.uri=jdbc:sqlite:{folder}/catalog.db",
            f"catalog.warehouse={folder}/warehouse")


def table_rows(spark, config: Config, location: str, name: str):
    """Every row of output table `name` at `location` as the config's catalog (or folders) hold it now."""
    from jobs.tables import input_table, read_all

    return read_all(spark, input_table(spark, config, str(location), name))


@pytest.fixture(scope="session")
def spark(aws_endpoint, tmp_path_factory) -> SparkSession:
    """The jobs' own session builder with the test config: local[2], 2 shuffle partitions, UTC, UI off, the S3A
    connector and Iceberg (their pinned jars, fetched into the cache on first use; Iceberg's SQL extensions can
    only be set when a session starts), so that the S3 and Iceberg tests run in the same session. The local AWS
    endpoint runs first: the JVM takes its credentials from the environment it starts with."""
    catalog = tmp_path_factory.mktemp("catalog")
    session = build_session(config_for_tests("spark.jars=[s3a]", "catalog.kind=jdbc",
                                             f"catalog.uri=jdbc:sqlite:{catalog}/catalog.db",
                                             f"catalog.warehouse={catalog}/warehouse"))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


SMALL_SIMULATION = ("simulator.customers=300", "simulator.terminals=600", "simulator.days=50",
                    "simulator.start_date=2018-04-01", "simulator.seed=7")


# The small set holds 2018-04-01 .. 05-20: two validation folds train from 04-08 and 04-01, two test folds from
# 04-29 and 04-22, and the final block is 05-07 .. 05-13; the set is too short for history days before a block.
SMALL_PROTOCOL = ("protocol.training_start=2018-04-22", "protocol.folds=2", "protocol.history_days=0")
SMALL_GRID = ("model.grid={maxIter: [3, 6], maxDepth: [2]}", "model.xgboost={max_bin: 16}", "model.gbt={maxBins: 16}")
TEST_MODEL_NAME = "fraud-gbt-test"
SCORED_DAYS = (dt.date(2018, 5, 19), dt.date(2018, 5, 20))
QUEUE_SIZE = 5


def tracked_config(store, *extra: str) -> Config:
    """The test config with a small protocol and grid, tracking to the SQLite store in folder `store`."""
    return config_for_tests(*SMALL_PROTOCOL, *SMALL_GRID, f"tracking.tracking_uri=sqlite:///{store}/mlflow.db",
                            f"tracking.artifact_root={store}/artifacts", f"model.registered_name={TEST_MODEL_NAME}",
                            *extra)


@contextlib.contextmanager
def mlflow_uris_restored():
    """Whatever MLflow tracks to inside (its tracking and registry URIs, the MLFLOW_TRACKING_URI that
    `mlflow.set_tracking_uri` writes, and which of them models.tracking set) is as before afterwards."""
    import mlflow

    from models import tracking

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tracking, "_set_here", tracking._set_here)
        patch.setenv("MLFLOW_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI", ""))
        try:
            yield
        finally:
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """A fresh MLflow store folder; MLFLOW_TRACKING_URI from the environment must not redirect the tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield tmp_path_factory.mktemp("mlflow")


TABLE_ROOTS = ("raw", "features", "training", "publish")  # the config's paths.*
# the settings of the main job's shared run (`pipeline_run`), on whatever store its paths name
PIPELINE_SETTINGS = (*SMALL_SIMULATION, "model.pipeline_grid=null", f"scoring.pipeline_days={len(SCORED_DAYS)}",
                     f"scoring.investigate_cards={QUEUE_SIZE}", "anomaly.evaluate=true")


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """The main job's outputs on the small set: its config, each stage's summary, and what it printed."""

    config: Config
    results: dict[str, dict]
    printed: str
    # a copy of its output folders as the run left them (tests re-run jobs on the shared folders afterwards)
    pristine: Path


@pytest.fixture(scope="session")
def pipeline_run(spark, mlflow_store, tmp_path_factory) -> PipelineRun:
    """The README's main job (`jobs.pipeline`) run once on the small set: 300 cards, 600 terminals, 50 days from
    2018-04-01; the small protocol and grid; the last two days scored with a queue of QUEUE_SIZE cards. The shared
    data sets below are its outputs, so the suite makes them once, with the very job users run."""
    root = tmp_path_factory.mktemp("pipeline")
    config = tracked_config(mlflow_store, *PIPELINE_SETTINGS, *(f"paths.{name}={root / name}" for name in TABLE_ROOTS))
    results = pipeline.run(spark, config)
    pristine = tmp_path_factory.mktemp("pipeline-pristine")
    shutil.copytree(root, pristine, dirs_exist_ok=True)
    return PipelineRun(config, results, pipeline.report(config, results), pristine)


@pytest.fixture(scope="session")
def small_raw(pipeline_run) -> str:
    """The generated raw data set (see `pipeline_run`). Returns its folder."""
    return pipeline_run.config.paths.raw


@pytest.fixture(scope="session")
def small_features(pipeline_run) -> tuple[str, dict]:
    """The feature job's output for `small_raw`, all dates: (folder, the job's summary)."""
    return pipeline_run.config.paths.features, pipeline_run.results["features"]


@pytest.fixture(scope="session")
def trained(pipeline_run) -> tuple:
    """The training job's run on the small set: (its output folder, its summary). Its model is the champion."""
    return Path(pipeline_run.config.paths.training), pipeline_run.results["trained"]


@pytest.fixture(scope="session")
def scored_publish(pipeline_run) -> tuple:
    """The scoring job on SCORED_DAYS with the trained champion: (publish folder, its summary). The pipeline's
    monitoring of both days is in its `monitoring` table."""
    assert pipeline_run.results["scored"]["first_date"] == str(SCORED_DAYS[0])
    return Path(pipeline_run.config.paths.publish), pipeline_run.results["scored"]


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


S3_BUCKET = "fraud-pipeline-test"
S3_GLUE_DATABASE = "fraud_s3_test"


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def s3_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="session")
def s3_pipeline_run(spark, aws_endpoint, pipeline_run, tmp_path_factory):
    """`pipeline_run`'s job and settings with its paths and MLflow artifact root in one bucket of the local
    endpoint (its own MLflow store, so that its model is version 1 as there), through the jobs' session builder;
    its output tables Iceberg tables in an embedded catalog beside the MLflow store (as conf/s3-local.yaml)."""
    s3_client(aws_endpoint).create_bucket(Bucket=S3_BUCKET)
    store = tmp_path_factory.mktemp("mlflow-s3")
    config = tracked_config(store, *PIPELINE_SETTINGS, *iceberg_settings(store),
                            f"catalog.warehouse=s3a://{S3_BUCKET}/warehouse",
                            *(f"paths.{name}=s3a://{S3_BUCKET}/{name}" for name in TABLE_ROOTS),
                            f"tracking.artifact_root=s3a://{S3_BUCKET}/mlflow", f"aws.endpoint_url={aws_endpoint}",
                            "aws.region=us-east-1", f"emr.glue_database={S3_GLUE_DATABASE}")
    with mlflow_uris_restored():
        results = pipeline.run(build_session(config), config)
    return config, results


def sns_inbox(sns, sqs, name: str) -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed to it, so a test can read what was published: (topic, queue url)."""
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url
