"""The QuickSight request bodies match the QuickSight API's own request model (botocore's service definition)."""
from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator

from conf import PathsConf
from emr.athena import TABLES, create_table_ddl
from emr.quicksight import DATA_SETS, requests

OPERATIONS = {"create_data_set": "CreateDataSet", "create_analysis": "CreateAnalysis"}
ARN = "arn:aws:quicksight:eu-west-1:123456789012:datasource/fraud-athena"


def test_every_request_is_valid_for_the_quicksight_api():
    model = botocore.session.get_session().get_service_model("quicksight")
    bodies = requests("123456789012", "eu-west-1", ARN, "fraud")
    assert {k: len(v) for k, v in bodies.items()} == {"create_data_set": 2, "create_analysis": 1}
    for operation, items in bodies.items():
        for body in items:
            report = ParamValidator().validate(body, model.operation_model(OPERATIONS[operation]).input_shape)
            assert not report.has_errors(), report.generate_report()


def test_the_analysis_has_the_four_dashboard_visuals_over_declared_datasets():
    body = requests("123456789012", "eu-west-1", ARN, "fraud")["create_analysis"][0]["Definition"]
    visuals = body["Sheets"][0]["Visuals"]
    assert [next(iter(v.values()))["VisualId"] for v in visuals] == [
        "daily-alerts", "score-distribution", "top-terminals", "amount-vs-score"]
    declared = {d["Identifier"] for d in body["DataSetIdentifierDeclarations"]}
    used = set()

    def collect(node):
        if isinstance(node, dict):
            if "DataSetIdentifier" in node:
                used.add(node["DataSetIdentifier"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)
    collect(visuals)
    assert used == declared == {"scored", "alerts"}


def test_datasets_read_the_athena_tables_without_array_columns():
    scored, alerts = requests("123456789012", "eu-west-1", ARN, "fraud")["create_data_set"]
    table = alerts["PhysicalTableMap"]["alerts"]["RelationalTable"]
    assert (table["Schema"], table["Name"]) == ("fraud", "fraud_alerts")
    assert "transaction_ids" not in {c["Name"] for c in table["InputColumns"]}
    assert {"Name": "tx_date", "Type": "DATETIME"} in table["InputColumns"]


def test_datasets_name_their_tables_and_columns_only_as_the_athena_ddl_declares_them():
    """No custom SQL, S3 path or partition folder: the Iceberg tables' DDL (which has no projection) serves."""
    paths = PathsConf(raw="s3://b/raw", features="s3://b/features", publish="s3://b/publish")
    for body in requests("123456789012", "eu-west-1", ARN, "fraud")["create_data_set"]:
        (key, physical), = body["PhysicalTableMap"].items()
        assert set(physical) == {"RelationalTable"}
        table = physical["RelationalTable"]
        ddl = create_table_ddl(TABLES[table["Name"]], "fraud", paths)
        assert table["Name"] == DATA_SETS[key] and "'table_type'='ICEBERG'" in ddl
        for column in table["InputColumns"]:
            assert f"  `{column['Name']}` " in ddl


@pytest.mark.parametrize("account", ["12345", "abcdefghijkl"])
def test_a_bad_account_id_is_refused(account):
    with pytest.raises(ValueError, match="12-digit AWS account id"):
        requests(account, "eu-west-1", ARN, "fraud")
