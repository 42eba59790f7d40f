"""The main job with every table, the MLflow artifacts, checkpoints and reports in a bucket of a real local S3
endpoint (moto in server mode), read and written by Spark through S3A: the same rows as on local disk."""
from __future__ import annotations

import boto3
import pytest
from mlflow import MlflowClient
from pyspark.sql import DataFrame, functions as F, types as T

from jobs import pipeline
from jobs.tables import ALERTS, FEATURES, MONITORING, SCORED, input_table, read_all
from tests.conftest import S3_BUCKET as BUCKET, S3_GLUE_DATABASE as GLUE_DATABASE, s3_keys as keys

# columns that name the run rather than the data (its ids, its clock)
RUN_DEPENDENT = {"scored_at", "monitored_at", "run_id", "mlflow_run_id"}
TABLES = ("raw/transactions", "raw/customer_profiles", "raw/terminal_profiles", "features",
          "training/predictions/validation", "training/predictions/test", "publish/scored", "publish/alerts",
          "publish/monitoring")
# the output tables, Iceberg tables on S3 (and Parquet folders in the local run)
ICEBERG = {"features": FEATURES, "publish/scored": SCORED, "publish/alerts": ALERTS, "publish/monitoring": MONITORING}


def comparable(df: DataFrame) -> DataFrame:
    """The data columns in name order, maps as sorted entry arrays (set operations cannot compare maps)."""
    return df.select(*(
        F.array_sort(F.map_entries(F.col(f.name))).alias(f.name) if isinstance(f.dataType, T.MapType)
        else F.col(f.name) for f in sorted(df.schema.fields, key=lambda f: f.name) if f.name not in RUN_DEPENDENT))


@pytest.mark.parametrize("table", TABLES)
def test_every_table_on_s3_is_identical_row_for_row_to_the_local_disk_run(spark, s3_pipeline_run, pipeline_run,
                                                                           table):
    root, rest = table.split("/", 1) if "/" in table else (table, "")
    local_root, s3_root = str(pipeline_run.pristine / root), getattr(s3_pipeline_run[0].paths, root)
    assert s3_root.startswith("s3a://")
    local = comparable(spark.read.parquet(f"{local_root}/{rest}".rstrip("/")))
    if table in ICEBERG:
        stored = input_table(spark, s3_pipeline_run[0], f"{s3_root}/{rest}".rstrip("/"), ICEBERG[table])
        assert stored.iceberg
        remote = comparable(read_all(spark, stored))
    else:
        remote = comparable(spark.read.parquet(f"{s3_root}/{rest}".rstrip("/")))
    assert remote.columns == local.columns
    assert remote.count() == local.count() > 0
    assert remote.exceptAll(local).count() == 0 and local.exceptAll(remote).count() == 0


def test_the_models_figures_and_reference_are_mlflow_artifacts_on_s3_and_scoring_loads_the_champion_there(
        s3_pipeline_run, aws_endpoint):
    config, results = s3_pipeline_run
    client = MlflowClient(config.tracking.tracking_uri, registry_uri=config.tracking.tracking_uri)
    champion = client.get_model_version_by_alias(config.model.registered_name, "champion")
    run = client.get_run(results["trained"]["mlflow_run_id"])
    assert run.info.artifact_uri.startswith(f"s3://{BUCKET}/mlflow/")
    assert results["scored"]["model_uri"] == f"models:/{config.model.registered_name}@champion"
    assert results["scored"]["mlflow_run_id"] == champion.run_id == run.info.run_id
    stored = keys(aws_endpoint, BUCKET, f"mlflow/{run.info.run_id}/artifacts/")
    for artifact in ("model/MLmodel", "model/sparkml/metadata/part-00000", "reference/profile.json",
                     "report/pr_curve.png"):
        assert any(key.endswith(artifact) for key in stored), artifact


def test_reports_summaries_and_checkpoints_go_to_s3_and_leave_no_checkpoint_behind(s3_pipeline_run, aws_endpoint):
    config, results = s3_pipeline_run
    for report in (results["scored"]["report"], results["monitored"]["report"]):
        assert report.startswith(f"s3a://{BUCKET}/publish/_reports/")
        assert report.split(f"s3a://{BUCKET}/", 1)[1] in keys(aws_endpoint, BUCKET, "publish/_reports/")
    assert "training/summary.json" in keys(aws_endpoint, BUCKET, "training/")
    checkpoints = [k for k in keys(aws_endpoint, BUCKET, "training/_checkpoints/") if not k.endswith("/")]
    assert checkpoints == []  # the fits checkpointed there, and the run removed its own


def test_the_pipeline_registers_its_s3_tables_in_the_glue_catalog_of_the_same_endpoint(s3_pipeline_run,
                                                                                     aws_endpoint):
    config, results = s3_pipeline_run
    glue = boto3.client("glue", endpoint_url=aws_endpoint, region_name="us-east-1")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName=GLUE_DATABASE)["TableList"]}
    assert set(tables) == set(results["published"]) == {
        "raw_transactions", "transaction_features", "scored_transactions", "fraud_alerts", "model_monitoring"}
    assert tables["scored_transactions"]["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/publish/scored/"
    assert "Glue tables (database fraud_s3_test)" in pipeline.report(config, results)


def test_an_s3_uri_is_read_by_the_same_connector_as_s3a_off_emr(spark, s3_pipeline_run):
    """s3:// (EMRFS's scheme on EMR) names the same objects through S3A on any other Spark."""
    from jobs.files import list_partitions

    s3a = list_partitions(spark, f"s3a://{BUCKET}/raw/transactions")
    s3 = list_partitions(spark, f"s3://{BUCKET}/raw/transactions")
    assert sorted(s3) == sorted(s3a) and len(s3) == 50
    assert all(p.path.startswith(f"s3://{BUCKET}/") for p in s3.values())
