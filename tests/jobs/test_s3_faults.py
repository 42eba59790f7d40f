"""Bad locations on S3 stop a job with an error that names the URI, before anything is written: a bucket that does
not exist, an empty prefix, a date range with no partitions, a wrong endpoint, no credentials."""
from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

import pytest

from conf.storage import StorageError
from expectations.contracts import ContractError
from jobs import build_features
from tests.conftest import S3_BUCKET as BUCKET, config_for_tests, iceberg_settings, s3_client, s3_keys as keys

OUTPUT = f"s3a://{BUCKET}/fault-output/features"


@pytest.fixture(scope="module")
def s3_raw(s3_pipeline_run) -> str:
    """The raw transactions the S3 pipeline run simulated into the bucket."""
    return f"{s3_pipeline_run[0].paths.raw}/transactions"


@pytest.fixture
def config(aws_endpoint, tmp_path):
    return config_for_tests(f"aws.endpoint_url={aws_endpoint}", "validation.enabled=false", *iceberg_settings(tmp_path))


def nothing_written(endpoint: str) -> bool:
    return keys(endpoint, BUCKET, "fault-output/") == []


def test_an_input_bucket_that_does_not_exist_is_named_and_nothing_is_written(spark, config, aws_endpoint, s3_raw):
    missing = "s3a://no-such-fraud-bucket/raw/transactions"
    with pytest.raises(StorageError, match=f"^{missing}: bucket s3a://no-such-fraud-bucket/ does not exist at the "
                                           f"S3 endpoint {aws_endpoint}"):
        build_features.run(spark, config, missing, OUTPUT)
    assert nothing_written(aws_endpoint)


def test_an_output_bucket_that_does_not_exist_stops_the_job_before_it_reads(spark, config, aws_endpoint, s3_raw):
    missing = "s3a://no-such-output-bucket/features"
    with pytest.raises(StorageError, match=f"^{missing}: bucket s3a://no-such-output-bucket/ does not exist"):
        build_features.run(spark, config, s3_raw, missing)
    assert "no-such-output-bucket" not in [b["Name"] for b in s3_client(aws_endpoint).list_buckets()["Buckets"]]


def test_an_empty_prefix_is_a_table_with_no_data_files(spark, config, aws_endpoint, s3_raw):
    empty = f"s3a://{BUCKET}/nothing-here/transactions"
    with pytest.raises(ContractError, match=f"{empty}.*the table has no data files"):
        build_features.run(spark, config, empty, OUTPUT)
    assert nothing_written(aws_endpoint)


def test_a_date_range_with_no_partitions_is_named_and_nothing_is_written(spark, config, aws_endpoint, s3_raw):
    with pytest.raises(ContractError, match=f"{s3_raw}.*no data for any date from 2030-01-01 to 2030-01-02"):
        build_features.run(spark, config, s3_raw, OUTPUT, dt.date(2030, 1, 1), dt.date(2030, 1, 2))
    assert nothing_written(aws_endpoint)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fraud(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The console command in a new process (its own JVM, so its own endpoint and credentials)."""
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("fault", ["wrong endpoint", "no credentials"])
def test_a_wrong_endpoint_or_missing_credentials_fail_fast_with_the_uri(aws_endpoint, s3_raw, fault):
    env = dict(os.environ)
    endpoint = aws_endpoint
    if fault == "wrong endpoint":
        endpoint, expected = f"http://127.0.0.1:{free_port()}", "cannot reach the S3 endpoint"
    else:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(key, None)
        env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        expected = "no AWS credentials"
    done = fraud(["build-features", "--config", "s3-local", "--set", f"aws.endpoint_url={endpoint}",
                  "--set", "validation.enabled=false", "--input", s3_raw, "--output", OUTPUT], env)
    assert done.returncode == 1
    assert f"fraud build-features: StorageError: {s3_raw}: {expected}" in done.stderr
    assert nothing_written(aws_endpoint)
