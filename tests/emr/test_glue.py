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
