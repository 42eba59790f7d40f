"""The Great Expectations Data Docs site: written beside the validation results, one validation page a run, listed
together in one index, nothing with the switch off, and no value of a sensitive column on any page."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import types as T

from expectations.contracts import RAW_TRANSACTIONS, ContractError
from expectations.data_docs import without_sensitive_values
from jobs.common import build_session
from jobs.validation import validate_output
from tests.conftest import config_for_tests, s3_client, s3_keys

D = dt.date(2018, 4, 1)
TS = dt.datetime(2018, 4, 1, 10, 0, 0, tzinfo=dt.timezone.utc)
SCHEMA = T.StructType([*(T.StructField(f.name, f.dataType) for f in RAW_TRANSACTIONS.schema.fields),
                      T.StructField("tx_date", T.DateType())])  # nullable: a literal row may break the contract
SUFFIX = f"{D}_{D}"


def row(transaction_id, customer_id=1, tx_amount=10.0):
    return (transaction_id, TS, customer_id, 2, tx_amount, 36000, 0, 0, 0, D)


@pytest.fixture(scope="module")
def table(spark):
    # a null bookkeeping column and an amount of 0, the contract's lower bound
    return spark.createDataFrame([row(1), row(2, tx_amount=0.0), (3, TS, 1, 2, 5.0, 36000, 0, 0, None, D)], SCHEMA)


def validation_pages(root: Path, suite: str = RAW_TRANSACTIONS.name) -> list[Path]:
    return sorted(root.glob(f"_data_docs/validations/{suite}/*/*/{SUFFIX}.html"))


def test_a_validation_writes_the_site_with_its_suite_and_its_run(spark, table, tmp_path):
    index = validate_output(spark, table, [RAW_TRANSACTIONS], str(tmp_path), SUFFIX, "run-one")
    assert index == f"{tmp_path}/_data_docs/index.html" and Path(index).is_file()
    assert RAW_TRANSACTIONS.name in Path(index).read_text()
    assert Path(tmp_path, "_data_docs/expectations", f"{RAW_TRANSACTIONS.name}.html").is_file()
    [page] = validation_pages(tmp_path)
    assert page.parent.parent.name == "run-one"
    assert page.relative_to(tmp_path / "_data_docs").as_posix() in Path(index).read_text()


def test_a_second_run_adds_its_page_and_the_index_lists_both(spark, table, tmp_path):
    validate_output(spark, table, [RAW_TRANSACTIONS], str(tmp_path), SUFFIX, "run-one")
    index = validate_output(spark, table, [RAW_TRANSACTIONS], str(tmp_path), SUFFIX, "run-two")
    pages = validation_pages(tmp_path)
    assert [p.parent.parent.name for p in pages] == ["run-one", "run-two"]
    listed = Path(index).read_text()
    assert all(p.relative_to(tmp_path / "_data_docs").as_posix() in listed for p in pages)
    catalog = json.loads(Path(tmp_path, "_data_docs/index.json").read_text())
    assert [v["run_name"] for v in catalog["validations"]] == ["run-one", "run-two"]


def test_with_the_site_switched_off_nothing_is_written_but_the_results(spark, table, tmp_path):
    assert validate_output(spark, table, [RAW_TRANSACTIONS], str(tmp_path), SUFFIX, "run-one", data_docs=False) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_validation"]


def test_a_failed_validation_is_in_the_site_without_the_cards_values(spark, tmp_path):
    broken = spark.createDataFrame([row(1, customer_id=None), row(2, tx_amount=-7.25)], SCHEMA)
    with pytest.raises(ContractError):
        validate_output(spark, broken, [RAW_TRANSACTIONS], str(tmp_path), SUFFIX, "run-bad")
    [page] = validation_pages(tmp_path)
    assert "-7.25" in page.read_text()  # the amount's sample of unexpected values is shown
    catalog = json.loads(Path(tmp_path, "_data_docs/index.json").read_text())
    assert [v["success"] for v in catalog["validations"]] == [False]


def test_on_s3_the_site_lands_under_the_same_prefix(spark, table, aws_endpoint):
    bucket, prefix = "fraud-data-docs-test", "features/_data_docs/"
    s3_client(aws_endpoint).create_bucket(Bucket=bucket)
    root = f"s3a://{bucket}/features"
    build_session(config_for_tests(f"aws.endpoint_url={aws_endpoint}", "aws.region=us-east-1"), uris=[root])
    index = validate_output(spark, table, [RAW_TRANSACTIONS], root, SUFFIX, "run-s3")
    assert index == f"s3a://{bucket}/{prefix}index.html"
    stored = s3_keys(aws_endpoint, bucket, prefix)
    assert {f"{prefix}index.html", f"{prefix}index.json", f"{prefix}expectations/raw_transactions.html"} <= set(stored)
    assert any(key.startswith(f"{prefix}validations/raw_transactions/run-s3/") for key in stored)
    assert any(key.startswith(f"{prefix}static/") for key in stored)


def result_on(column: str, values: list) -> dict:
    return {"success": False, "expectation_config": {"type": "expect_column_values_to_be_between",
                                                     "kwargs": {"column": column, "min_value": 0}},
            "result": {"element_count": 3, "unexpected_count": len(values), "unexpected_percent": 50.0,
                       "partial_unexpected_list": values, "observed_value": values[0]}}


def test_the_pages_keep_only_counts_of_a_sensitive_column():
    suite_result = {"success": False, "results": [result_on("customer_id", [4111111111111111]),
                                                  result_on("tx_amount", [-7.25])]}
    card, amount = without_sensitive_values(suite_result)["results"]
    assert card["result"] == {"element_count": 3, "unexpected_count": 1, "unexpected_percent": 50.0}
    assert amount == result_on("tx_amount", [-7.25])
