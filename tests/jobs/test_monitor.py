"""The monitoring job on the scoring job's real output: one row a day, drift caught, labels used once mature."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from conf import AwsConf
from emr import clients
from expectations.contracts import ContractError
from jobs import monitor
from models import reference, tracking
from tests.conftest import SCORED_DAYS, sns_inbox, tracked_config

FIRST, LAST = SCORED_DAYS


def test_the_trained_model_carries_its_training_reference(trained, mlflow_store):
    tracking.use_experiment(tracked_config(mlflow_store).tracking)
    profile = tracking.load_reference(trained[1]["mlflow_run_id"])
    assert set(profile["columns"]) == {*tracked_config(mlflow_store).model.features, reference.SCORE}
    assert profile["rows_per_day"] == profile["rows"] / 7


@pytest.fixture(scope="module")
def monitored(spark, scored_publish, mlflow_store):
    publish = str(scored_publish[0])
    summary = monitor.run(spark, tracked_config(mlflow_store), publish, LAST, as_of=LAST + dt.timedelta(days=7))
    return publish, summary


def test_each_monitored_day_has_one_row_with_its_drift(spark, monitored):
    publish, summary = monitored
    (day,) = spark.read.parquet(f"{publish}/monitoring").where(F.col("tx_date") == F.lit(LAST)).collect()
    assert summary["days"] == 1
    scored = spark.read.parquet(f"{publish}/scored").where(F.col("tx_date") == F.lit(LAST))
    assert day.rows == scored.count()
    assert "tx_amount" in day.feature_psi and "tx_during_weekend" not in day.feature_psi  # excluded by config
    assert day.max_feature_psi == max(day.feature_psi.values())
    assert day.status in ("ok", "degraded") and (day.status == "degraded") == bool(day.breaches)


def test_a_day_whose_labels_are_mature_gets_its_ranking_quality(spark, monitored):
    publish, _ = monitored
    day = spark.read.parquet(f"{publish}/monitoring").where(F.col("tx_date") == F.lit(LAST)).first()
    assert day.labels_mature and 0.0 <= day.average_precision <= 1.0 and day.auc_roc is not None
    assert day.frauds == spark.read.parquet(f"{publish}/scored").where(
        F.col("tx_date") == F.lit(LAST)).agg(F.sum("tx_fraud")).first()[0]


@pytest.fixture(scope="module")
def shifted_publish(spark, scored_publish, tmp_path_factory):
    """A copy of the scored days with every amount tripled: a publish folder with drifted inputs."""
    folder = tmp_path_factory.mktemp("shifted")
    scored = spark.read.parquet(f"{scored_publish[0]}/scored")
    scored.withColumn("tx_amount", F.col("tx_amount") * 3).write.partitionBy("tx_date").parquet(str(folder / "scored"))
    return folder


def test_shifted_amounts_mark_the_day_degraded_and_name_the_feature(spark, shifted_publish, mlflow_store):
    summary = monitor.run(spark, tracked_config(mlflow_store), str(shifted_publish), FIRST, LAST)
    assert summary["degraded_days"] == [str(FIRST), str(LAST)]
    assert any(b.startswith("psi(tx_amount)=") for b in summary["breaches"][str(LAST)])
    assert any(b.startswith("gx: ") and "tx_amount" in b for b in summary["breaches"][str(LAST)])
    day = spark.read.parquet(str(shifted_publish / "monitoring")).where(F.col("tx_date") == F.lit(LAST)).first()
    assert not day.labels_mature and day.average_precision is None  # as of the last day: labels not known yet


def test_rerunning_a_day_replaces_its_row(spark, monitored, mlflow_store):
    publish, first = monitored
    before = {r.tx_date: r for r in spark.read.parquet(f"{publish}/monitoring").collect()}
    again = monitor.run(spark, tracked_config(mlflow_store), publish, LAST, as_of=LAST + dt.timedelta(days=7))
    rows = spark.read.parquet(f"{publish}/monitoring").collect()
    (last,) = [r for r in rows if r.tx_date == LAST]
    assert last.run_id == again["run_id"] != first["run_id"]
    # the pipeline's row of the other scored day is left as it was
    assert [r for r in rows if r.tx_date != LAST] == [before[FIRST]]


def test_a_date_that_was_not_scored_is_an_error_naming_it(spark, scored_publish, mlflow_store):
    with pytest.raises(ContractError, match=r"dates_have_data.*2018-05-21"):
        monitor.run(spark, tracked_config(mlflow_store), str(scored_publish[0]), LAST, LAST + dt.timedelta(days=1))


def test_the_run_leaves_a_self_contained_html_report(monitored):
    _, summary = monitored
    with open(summary["report"]) as report:
        text = report.read()
    assert text.count("data:image/png;base64,") == 2 and str(LAST) in text
    assert '<a href="../_data_docs/index.html">' in text and Path(summary["data_docs"]).is_file()
    assert list(Path(summary["data_docs"]).parent.glob(f"validations/features_vs_reference_{LAST}/*/*/{LAST}.html"))


def test_a_degraded_day_is_published_to_the_configured_topic(spark, shifted_publish, mlflow_store, aws_endpoint):
    aws = AwsConf(region="us-east-1", endpoint_url=aws_endpoint)
    sns, sqs = clients.client("sns", aws), clients.client("sqs", aws)
    topic, queue_url = sns_inbox(sns, sqs, "fraud-monitoring")
    config = tracked_config(mlflow_store, f"monitoring.sns_topic_arn={topic}", "aws.region=us-east-1",
                            f"aws.endpoint_url={aws_endpoint}")
    summary = monitor.run(spark, config, str(shifted_publish), LAST)
    envelope = json.loads(sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"][0]["Body"])
    assert envelope["MessageId"] == summary["notification"]
    assert envelope["Subject"] == f"Fraud monitoring: 1 degraded day(s) from {LAST}"
    assert f"{LAST}: " in envelope["Message"] and "psi(tx_amount)=" in envelope["Message"]
