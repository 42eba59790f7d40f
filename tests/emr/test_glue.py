"""Athena tables registered through the Glue Data Catalog API, against moto in server mode: the raw table as an
external table with partition projection, the Iceberg output tables left to Glue when it is their catalog, or
registered at their current metadata file when they live in the embedded JDBC catalog on S3."""
from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from pyspark.sql import types as T

from conf import AwsConf, ConfigError
from emr import clients
from emr.athena import TABLES, projection_properties
from emr.glue import IN_ICEBERG_CATALOG
from emr.runner import EmrPipeline
from tests.emr.conftest import DATA, emr_config

ICEBERG_TABLES = ("transaction_features", "scored_transactions", "fraud_alerts", "model_monitoring")


def test_publish_with_the_glue_catalog_registers_the_raw_table_with_projection_and_leaves_the_iceberg_ones(
        aws_endpoint):
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    config = emr_config(aws_endpoint, "emr.glue_database=fraud_created")
    done = EmrPipeline(config, glue=glue, out=io.StringIO()).publish()
    assert done == {"raw_transactions": "created", **{name: IN_ICEBERG_CATALOG for name in ICEBERG_TABLES}}
    assert [t["Name"] for t in glue.get_tables(DatabaseName="fraud_created")["TableList"]] == ["raw_transactions"]
    table = glue.get_table(DatabaseName="fraud_created", Name="raw_transactions")["Table"]
    location = f"s3://{DATA}/raw/transactions/"
    assert table["StorageDescriptor"]["Location"] == location
    assert {k: v for k, v in table["Parameters"].items() if k.startswith(("projection.", "storage."))} == (
        projection_properties(location))
    assert table["PartitionKeys"] == [{"Name": "tx_date", "Type": "date"}]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == list(TABLES["raw_transactions"].columns)
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")


def test_publishing_again_updates_the_raw_table_to_the_current_definition(aws_endpoint):
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    EmrPipeline(emr_config(aws_endpoint, "emr.glue_database=fraud_updated"), glue=glue, out=io.StringIO()).publish()
    moved = emr_config(aws_endpoint, "emr.glue_database=fraud_updated", f"paths.raw=s3://{DATA}/raw-v2")
    out = io.StringIO()
    done = EmrPipeline(moved, glue=glue, out=out).publish()
    assert done["raw_transactions"] == "updated"
    table = glue.get_table(DatabaseName="fraud_updated", Name="raw_transactions")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{DATA}/raw-v2/transactions/"
    assert "fraud_updated.raw_transactions: updated" in out.getvalue()


def test_publish_from_this_machine_projects_from_the_configured_start(aws_endpoint):
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    config = emr_config(aws_endpoint, "emr.glue_database=fraud_2013", "emr.projection_start=2013-09-01")
    EmrPipeline(config, glue=glue, out=io.StringIO()).publish()
    table = glue.get_table(DatabaseName="fraud_2013", Name="raw_transactions")["Table"]
    assert table["Parameters"]["projection.tx_date.range"] == "2013-09-01,NOW"


def test_the_publish_job_refuses_a_database_other_than_the_glue_catalogs(spark, aws_endpoint):
    from jobs import publish

    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    with pytest.raises(ConfigError, match="Iceberg tables are in Glue database 'fraud'"):
        publish.run(spark, emr_config(aws_endpoint), "elsewhere", glue)


ALERTS = T.StructType([T.StructField("alert_rank", T.IntegerType()), T.StructField("customer_id", T.LongType()),
                       T.StructField("tx_date", T.DateType())])


@pytest.fixture
def s3_catalog(spark, aws_endpoint, tmp_path):
    """A config whose tables are in a bucket of the local endpoint and whose catalog is an embedded JDBC one, with
    the ULB set's 2013 dates in the raw table (listed, not read); the session pointed at the endpoint."""
    from jobs.common import build_session
    from tests.conftest import config_for_tests, s3_client

    suffix = uuid.uuid4().hex[:8]
    bucket = f"fraud-publish-{suffix}"
    s3_client(aws_endpoint).create_bucket(Bucket=bucket)
    for date in ("2013-09-02", "2013-09-01"):
        s3_client(aws_endpoint).put_object(Bucket=bucket, Key=f"raw/transactions/tx_date={date}/part-0.parquet",
                                           Body=b"listed, not read")
    paths = [f"paths.{key}=s3a://{bucket}/{key}" for key in ("raw", "features", "training", "publish")]
    config = config_for_tests(f"aws.endpoint_url={aws_endpoint}", "aws.region=us-east-1", *paths,
                              "catalog.kind=jdbc", f"catalog.name=glue_{suffix}",
                              f"catalog.uri=jdbc:sqlite:{tmp_path}/catalog.db",
                              f"catalog.warehouse=s3a://{bucket}/warehouse")
    build_session(config, uris=[f"s3a://{bucket}/"])  # the shared session, pointed at this endpoint
    return config, bucket


def write_alerts(spark, config, rows, dates, run_id: str) -> str:
    """Write the alerts table (Iceberg on S3); returns its current metadata file."""
    from jobs import publish, tables

    tables.use_catalog(spark, config)
    table = tables.output_table(config, f"{config.paths.publish}/alerts", tables.ALERTS)
    tables.write_dates(spark.createDataFrame(rows, ALERTS), table, dates, run_id, "test")
    return publish.current_metadata_file(spark, table)


def test_the_publish_job_registers_each_iceberg_table_of_the_jdbc_catalog_at_its_metadata_file(
        spark, aws_endpoint, s3_catalog):
    from jobs import publish
    from tests.conftest import s3_keys

    config, bucket = s3_catalog
    day = dt.date(2013, 9, 1)
    written = write_alerts(spark, config, [(1, 7, day)], [day], "first")
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    done = publish.run(spark, config, "fraud_jdbc", glue)
    assert done == {"raw_transactions": "created", "fraud_alerts": "created",
                    **{name: publish.NO_TABLE for name in ICEBERG_TABLES if name != "fraud_alerts"}}
    table = glue.get_table(DatabaseName="fraud_jdbc", Name="fraud_alerts")["Table"]
    metadata = table["Parameters"]["metadata_location"]
    assert written.startswith(f"s3a://{bucket}/publish/alerts/metadata/") and metadata == "s3" + written[3:]
    assert metadata.split(f"s3://{bucket}/", 1)[1] in s3_keys(aws_endpoint, bucket, "publish/alerts/metadata/")
    assert table["Parameters"]["table_type"] == "ICEBERG" and "previous_metadata_location" not in table["Parameters"]
    assert not any(k.startswith("projection.") for k in table["Parameters"]) and not table.get("PartitionKeys")
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/publish/alerts/"
    raw = glue.get_table(DatabaseName="fraud_jdbc", Name="raw_transactions")["Table"]["Parameters"]
    assert raw["projection.tx_date.range"] == "2013-09-01,NOW"  # from the table's earliest date


def test_publishing_after_a_new_commit_moves_the_registered_metadata_file_on(spark, aws_endpoint, s3_catalog):
    from jobs import publish

    config, _ = s3_catalog
    day = dt.date(2013, 9, 1)
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    first = write_alerts(spark, config, [(1, 7, day)], [day], "first")
    publish.run(spark, config, "fraud_jdbc_again", glue)
    second = write_alerts(spark, config, [(1, 8, day)], [day], "second")
    assert publish.run(spark, config, "fraud_jdbc_again", glue)["fraud_alerts"] == "updated"
    parameters = glue.get_table(DatabaseName="fraud_jdbc_again", Name="fraud_alerts")["Table"]["Parameters"]
    assert (parameters["metadata_location"], parameters["previous_metadata_location"]) == (
        "s3" + second[3:], "s3" + first[3:])
