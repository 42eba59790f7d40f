"""The one redaction helper (conf/redact.py): URIs' user-info and secret name=value pairs masked in text and in
summaries; identifiers (ARNs, key ids) kept."""
from __future__ import annotations

import pytest

from conf.redact import has_credentials, redact, redact_text, secret_overrides


@pytest.mark.parametrize("text, shown", [
    ("https://ana:hunter2@mlflow.example.com/api", "https://***@mlflow.example.com/api"),
    ("https://token@mlflow.example.com", "https://***@mlflow.example.com"),
    ("tracking.password=hunter2", "tracking.password=***"),
    ("MLFLOW_TRACKING_TOKEN=abc123 and more", "MLFLOW_TRACKING_TOKEN=*** and more"),
    ("https://h/x?api_key=abc&page=2", "https://h/x?api_key=***&page=2"),
    ("at --set tracking.tracking_uri=https://ana:hunter2@h:5000", "at --set tracking.tracking_uri=https://***@h:5000"),
])
def test_credentials_are_masked_wherever_they_are_in_the_text(text, shown):
    assert has_credentials(text) and redact_text(text) == shown


@pytest.mark.parametrize("text", [
    "https://mlflow.example.com:443/api", "s3://bucket/raw", "spark.shuffle_partitions=64",
    "emr.kms_key_id=1234abcd-12ab-34cd-56ef-1234567890ab",
    "tracking.credentials_secret=arn:aws:secretsmanager:eu-west-1:111122223333:secret:fraud/mlflow",
    "arn:aws:sagemaker:eu-west-1:111122223333:mlflow-tracking-server/fraud"])
def test_names_and_identifiers_are_left_as_they_are(text):
    assert not has_credentials(text) and redact_text(text) == text


def test_a_summary_is_redacted_throughout():
    summary = {"tracking_uri": "https://ana:hunter2@h", "password": "hunter2", "rows": 3,
               "runs": [{"uri": "https://u:p@h/1"}], "token_count": 4}
    assert redact(summary) == {"tracking_uri": "https://***@h", "password": "***", "rows": 3,
                               "runs": [{"uri": "https://***@h/1"}], "token_count": 4}


def test_secret_overrides_are_named_redacted():
    found = secret_overrides(["model.parallelism=4", "tracking.password=hunter2",
                              "tracking.tracking_uri=https://a:b@h"])
    assert found == ["tracking.password=***", "tracking.tracking_uri=https://***@h"]
