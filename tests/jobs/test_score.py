"""The scoring job on the small set with the champion the training job registered."""
from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import mlflow
import numpy as np
import pytest
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F, types as T

from conf import AwsConf
from emr import clients
from expectations.contracts import PARTITION_COLUMN, scoring_contract
from expectations.quarantine import SOURCE_FILE, valid_rows, with_quarantine_reason
from jobs import score
from jobs.files import list_partitions, read_partitions
from models.anomaly import SIGNALS, load_signals
from models.explain import top_reasons
from models.pipeline import fraud_probability, tree_model
from models.scoring import with_outcome
from tests.conftest import QUEUE_SIZE, SCORED_DAYS, TEST_MODEL_NAME, config_for_tests, sns_inbox, tracked_config
from tests.shap_oracle import shap_values

DAYS, K = SCORED_DAYS, QUEUE_SIZE


@pytest.fixture(scope="module")
def scored_run(scored_publish):
    return scored_publish


def read(spark, output, table):
    return spark.read.parquet(str(output / table))


def test_every_transaction_of_the_dates_is_scored_once_by_the_champion(spark, trained, small_features, scored_run):
    output, summary = scored_run
    features = spark.read.parquet(small_features[0]).where(F.col("tx_date").isin(list(DAYS)))
    scored = read(spark, output, "scored")
    assert summary["rows_in"] == summary["rows_scored"] == features.count() == scored.count()
    assert scored.select("transaction_id").distinct().count() == scored.count()
    assert summary["model_version"] == trained[1]["registered_model"]["version"]
    assert scored.where(F.col("model_version") != summary["model_version"]).count() == 0
    bad_risk = scored.where(F.col("risk_score") != F.round(F.col("fraud_probability") * 1000).cast("int"))
    assert bad_risk.count() == 0


def test_the_top_cards_of_each_day_are_investigated_and_queued_in_rank_order(spark, scored_run):
    output, summary = scored_run
    scored = read(spark, output, "scored")
    for day in DAYS:
        rows = scored.where(F.col("tx_date") == day)
        cards = (rows.groupBy("customer_id").agg(F.max("fraud_probability").alias("s"))
                 .orderBy(F.col("s").desc(), F.col("customer_id")).limit(K).collect())
        investigated = {r.customer_id for r in rows.where(F.col("outcome") == "investigate")
                        .select("customer_id").distinct().collect()}
        assert investigated == {r.customer_id for r in cards}
        queue = read(spark, output, "alerts").where(F.col("tx_date") == day).orderBy("alert_rank").collect()
        assert [r.customer_id for r in queue] == [r.customer_id for r in cards]
        assert [r.alert_rank for r in queue] == list(range(1, K + 1))
    review = scored.where(F.col("outcome") == "review")
    assert review.where(F.col("fraud_probability") < 0.5).count() == 0
    assert summary["alerts"] == K * len(DAYS)


def test_reasons_are_each_row_s_strongest_shap_contributions(spark, trained, small_features, scored_run, mlflow_store):
    output, _ = scored_run
    mlflow.set_tracking_uri(f"sqlite:///{mlflow_store}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{mlflow_store}/mlflow.db")
    model = mlflow.spark.load_model(f"models:/{TEST_MODEL_NAME}@champion")
    inputs = model.stages[0].getInputCols()
    sample = (model.transform(spark.read.parquet(small_features[0]).where(F.col("tx_date") == DAYS[0]).limit(20))
              .select("transaction_id", vector_to_array(model.stages[-1].getFeaturesCol()).alias("x"),
                      fraud_probability().alias("p")).collect())
    values = shap_values(tree_model(model), np.array([r.x for r in sample]))  # shap's TreeSHAP, not ours
    got = {r.transaction_id: r for r in read(spark, output, "scored").where(
        F.col("transaction_id").isin([r.transaction_id for r in sample])).collect()}
    for row, contributions in zip(sample, values):
        strongest = np.argsort(-contributions, kind="stable")[:3]
        assert [got[row.transaction_id][f"reason_{i + 1}"] for i in range(3)] == [inputs[j] for j in strongest]
        assert got[row.transaction_id]["reason_1_contribution"] == pytest.approx(contributions[strongest[0]])
        assert got[row.transaction_id]["fraud_probability"] == pytest.approx(row.p)


def test_every_scored_row_carries_the_anomaly_signals_logged_with_the_champion(spark, trained, small_features,
                                                                              scored_run, mlflow_store):
    output, summary = scored_run
    mlflow.set_tracking_uri(f"sqlite:///{mlflow_store}/mlflow.db")
    signals = load_signals(summary["mlflow_run_id"])
    assert signals.inputs == tuple(config_for_tests().anomaly.inputs)
    features = spark.read.parquet(small_features[0]).where(F.col("tx_date").isin(list(DAYS)))
    expected = {r.transaction_id: (r.kmeans_distance, r.isolation_forest_score)
                for r in signals.apply(features).select("transaction_id", *SIGNALS).collect()}
    got = {r.transaction_id: (r.kmeans_distance, r.isolation_forest_score)
           for r in read(spark, output, "scored").select("transaction_id", *SIGNALS).collect()}
    assert len(got) == summary["rows_scored"] and got == pytest.approx(expected)
    assert min(distance for distance, _ in got.values()) >= 0.0


def test_top_reasons_order_by_contribution_with_ties_by_feature_order():
    reasons = top_reasons(np.array([[0.1, 0.5, 0.5, -1.0], [0.0, -0.2, 0.3, 0.0]]), ["a", "b", "c", "d"], 3)
    assert reasons[["reason_1", "reason_2", "reason_3"]].values.tolist() == [["b", "c", "a"], ["c", "a", "d"]]
    assert reasons["reason_1_contribution"].tolist() == [0.5, 0.3]


def test_rescoring_a_date_replaces_it_without_duplicates(spark, small_features, scored_run, mlflow_store):
    output, _ = scored_run
    before = read(spark, output, "scored").drop("scored_at").localCheckpoint()
    config = tracked_config(mlflow_store, f"scoring.investigate_cards={K}")
    score.run(spark, config, small_features[0], str(output), DAYS[1])
    after = read(spark, output, "scored").drop("scored_at")
    assert after.count() == before.count()
    assert after.exceptAll(before).count() == 0 and before.exceptAll(after).count() == 0
    assert read(spark, output, "alerts").count() == K * len(DAYS)


# with Catalyst's constraint propagation on, the quarantine predicate over these inputs would be copied 2^24 times
MANY_INTEGER_INPUTS = 24
PLAN_SECONDS = 120  # seconds on a loaded machine; minutes of copying and then the heap without the fix


def test_a_scoring_plan_over_many_integer_model_inputs_runs_in_seconds(spark, tmp_path):
    names = [f"count_{i}" for i in range(MANY_INTEGER_INPUTS)]
    contract = scoring_contract(names)
    schema = T.StructType([T.StructField(f.name, T.IntegerType() if f.name in names else f.dataType)
                           for f in contract.schema.fields] + [T.StructField(PARTITION_COLUMN, T.DateType())])
    when = dt.datetime(2018, 5, 1, 12)
    row = (1, when, 7, 9, *range(MANY_INTEGER_INPUTS), 0, when.date())
    table = str(tmp_path / "features")
    spark.createDataFrame([row], schema).write.partitionBy(PARTITION_COLUMN).parquet(table)
    rows = read_partitions(spark, table, list(list_partitions(spark, table).values()), contract,
                           allow_extra_columns=False)  # as the job reads: each integer input cast to double
    valid = valid_rows(with_quarantine_reason(rows, contract, [])).drop(SOURCE_FILE)
    scored = valid.select("*", F.lit(0.5).alias("fraud_probability")).transform(
        with_outcome, config_for_tests().scoring)  # joins its own card ranks, as the job does
    outcomes = []
    counting = threading.Thread(target=lambda: outcomes.extend(r.outcome for r in scored.collect()), daemon=True)
    counting.start()
    counting.join(PLAN_SECONDS)
    assert outcomes == ["investigate"]


def test_each_run_leaves_a_manifest_and_a_self_contained_html_report(scored_run):
    output, summary = scored_run
    report = Path(summary["report"])
    page = report.read_text()
    assert report.parent == output / "_reports" and page.startswith("<!doctype html>")
    assert page.count("data:image/png;base64,") == 3  # queue per day, histogram, PR curve (labels are known)
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch from a server
    manifest = json.loads((output / "_runs" / (report.stem + ".json")).read_text())
    assert manifest["rows_scored"] == summary["rows_scored"] and manifest["model_version"] == summary["model_version"]
    assert manifest["data_docs"] == summary["data_docs"] == f"{output}/_data_docs/index.html"
    assert '<a href="../_data_docs/index.html">' in page


def test_a_configured_topic_gets_the_summary_and_the_top_alerts(spark, trained, small_features, mlflow_store,
                                                                 aws_endpoint, tmp_path):
    aws = AwsConf(region="us-east-1", endpoint_url=aws_endpoint)
    sns, sqs = clients.client("sns", aws), clients.client("sqs", aws)
    topic, queue_url = sns_inbox(sns, sqs, "fraud-alerts")
    config = tracked_config(mlflow_store, f"scoring.sns_topic_arn={topic}", "scoring.notify_alerts=3",
                            f"scoring.investigate_cards={K}", "aws.region=us-east-1",
                            f"aws.endpoint_url={aws_endpoint}")
    summary = score.run(spark, config, small_features[0], str(tmp_path), DAYS[1])
    received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    envelope = json.loads(received[0]["Body"])
    top = spark.read.parquet(str(tmp_path / "alerts")).orderBy("alert_rank").first()
    assert envelope["MessageId"] == summary["notification"]
    assert envelope["Subject"].startswith(f"Fraud scoring {DAYS[1]}..{DAYS[1]}: {K} cards queued")
    assert f"#1 card {top.customer_id}: risk {top.max_risk_score}" in envelope["Message"]
    assert "#3 card" in envelope["Message"] and "#4 card" not in envelope["Message"]
