"""Athena tables registered through the Glue Data Catalog API, against moto in server mode."""
from __future__ import annotations

import io

from conf import AwsConf
from emr import clients
from emr.athena import TABLES, projection_properties
from emr.runner import EmrPipeline
from tests.emr.conftest import DATA, emr_config


def test_publish_creates_every_table_with_partition_projection(aws_endpoint):
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    config = emr_config(aws_endpoint, "emr.glue_database=fraud_created")
    done = EmrPipeline(config, glue=glue, out=io.StringIO()).publish()
    assert done == {name: "created" for name in TABLES}
    table = glue.get_table(DatabaseName="fraud_created", Name="scored_transactions")["Table"]
    location = f"s3://{DATA}/publish/scored/"
    assert table["StorageDescriptor"]["Location"] == location
    assert table["Parameters"]["storage.location.template"] == f"{location}tx_date=${{tx_date}}/"
    assert {k: v for k, v in table["Parameters"].items() if k.startswith(("projection.", "storage."))} == (
        projection_properties(location))
    assert table["PartitionKeys"] == [{"Name": "tx_date", "Type": "date"}]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == list(TABLES["scored_transactions"].columns)
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")


def test_publishing_again_updates_the_tables_to_the_current_definition(aws_endpoint):
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    EmrPipeline(emr_config(aws_endpoint, "emr.glue_database=fraud_updated"), glue=glue, out=io.StringIO()).publish()
    moved = emr_config(aws_endpoint, "emr.glue_database=fraud_updated", f"paths.raw=s3://{DATA}/raw-v2")
    out = io.StringIO()
    done = EmrPipeline(moved, glue=glue, out=out).publish()
    assert set(done.values()) == {"updated"}
    table = glue.get_table(DatabaseName="fraud_updated", Name="raw_transactions")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{DATA}/raw-v2/transactions/"
    assert "fraud_updated.raw_transactions: updated" in out.getvalue()


def test_publish_from_this_machine_projects_from_the_configured_start(aws_endpoint):
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    config = emr_config(aws_endpoint, "emr.glue_database=fraud_2013", "emr.projection_start=2013-09-01")
    EmrPipeline(config, glue=glue, out=io.StringIO()).publish()
    table = glue.get_table(DatabaseName="fraud_2013", Name="raw_transactions")["Table"]
    assert table["Parameters"]["projection.tx_date.range"] == "2013-09-01,NOW"


def test_the_publish_job_projects_each_table_from_its_earliest_date(spark, aws_endpoint):
    """The ULB set's 2013 dates in the raw table on S3; the scored table has no data yet."""
    from jobs import publish
    from jobs.common import build_session
    from tests.conftest import config_for_tests, s3_client

    bucket = "fraud-publish-2013"
    s3_client(aws_endpoint).create_bucket(Bucket=bucket)
    for date in ("2013-09-02", "2013-09-01"):
        s3_client(aws_endpoint).put_object(Bucket=bucket, Key=f"raw/transactions/tx_date={date}/part-0.parquet",
                                           Body=b"listed, not read")
    paths = [f"paths.{key}=s3a://{bucket}/{key}" for key in ("raw", "features", "training", "publish")]
    config = config_for_tests(f"aws.endpoint_url={aws_endpoint}", *paths)
    build_session(config, uris=[f"s3a://{bucket}/"])  # the shared session, pointed at this endpoint
    glue = clients.client("glue", AwsConf("us-east-1", aws_endpoint))
    publish.run(spark, config, "fraud_by_data", glue)
    ranges = {name: glue.get_table(DatabaseName="fraud_by_data", Name=name)["Table"]["Parameters"][
        "projection.tx_date.range"] for name in ("raw_transactions", "scored_transactions")}
    assert ranges == {"raw_transactions": "2013-09-01,NOW", "scored_transactions": "2000-01-01,NOW"}
