"""The IAM documents of the two roles: valid JSON policies, every grant scoped to the project's resources."""
from __future__ import annotations

import json

import pytest

from conf import ConfigError, load_config
from emr import policies

BASE = ["aws.region=eu-west-1", "emr.account_id=111122223333", "emr.bucket=acme-artifacts",
        "emr.log_uri=s3://acme-artifacts/emr-logs/", "emr.athena_output=s3://acme-data/athena-results/",
        "paths.raw=s3://acme-data/raw", "paths.features=s3://acme-data/features",
        "paths.training=s3://acme-data/training", "paths.publish=s3://acme-data/publish",
        "catalog.warehouse=s3://acme-data/warehouse"]
ALLOWED_S3 = ("arn:aws:s3:::acme-data/raw/*", "arn:aws:s3:::acme-data/features/*", "arn:aws:s3:::acme-data/training/*",
              "arn:aws:s3:::acme-data/publish/*", "arn:aws:s3:::acme-data/athena-results/*",
              "arn:aws:s3:::acme-data/warehouse/*",
              "arn:aws:s3:::acme-artifacts/fraud-platform/*", "arn:aws:s3:::acme-artifacts/emr-logs/*",
              "arn:aws:s3:::acme-data", "arn:aws:s3:::acme-artifacts")


def _docs(*extra):
    return policies.documents(load_config("emr", [*BASE, *extra]))


def _statements(doc):
    return {s["Sid"]: s for s in doc["Statement"]}


def _resources(statement):
    found = statement["Resource"]
    return found if isinstance(found, list) else [found]


def test_every_document_is_a_json_policy_with_no_placeholder_left():
    for role in _docs().values():
        for name, body in role.items():
            if isinstance(body, dict):
                text = json.dumps(body)
                assert "${" not in text, name
                assert json.loads(text)["Version"] == "2012-10-17"
                assert all(s["Effect"] == "Allow" and s["Action"] for s in body["Statement"])


def test_the_instance_profile_reaches_only_the_project_prefixes_and_database():
    statements = _statements(_docs()["instance_profile"]["inline_policy"])
    for statement in statements.values():
        assert "*" not in _resources(statement)
    s3 = [r for s in statements.values() for r in _resources(s) if r.startswith("arn:aws:s3")]
    assert set(s3) == set(ALLOWED_S3)
    assert _resources(statements["ReadTheDeployedArtifacts"]) == ["arn:aws:s3:::acme-artifacts/fraud-platform/*"]
    assert statements["ReadTheDeployedArtifacts"]["Action"] == "s3:GetObject"  # the jobs never change the code
    prefixes = statements["ListOnlyTheProjectPrefixes"]["Condition"]["StringLike"]["s3:prefix"]
    assert "raw/*" in prefixes and "fraud-platform/*" in prefixes and "*" not in prefixes
    assert _resources(statements["RegisterTheProjectTables"]) == [
        "arn:aws:glue:eu-west-1:111122223333:catalog", "arn:aws:glue:eu-west-1:111122223333:database/fraud",
        "arn:aws:glue:eu-west-1:111122223333:table/fraud/*"]


def test_key_topic_and_mlflow_server_are_granted_only_when_configured():
    plain = _statements(_docs()["instance_profile"]["inline_policy"])
    assert not {"EncryptWithTheProjectKey", "PublishTheAlerts", "UseTheMlflowServer"} & set(plain)
    full = _statements(_docs("emr.kms_key_id=1234abcd-12ab-34cd-56ef-1234567890ab",
                             "scoring.sns_topic_arn=arn:aws:sns:eu-west-1:111122223333:fraud-alerts",
                             "emr.mlflow_tracking_server_arn=arn:aws:sagemaker:eu-west-1:111122223333:"
                             "mlflow-tracking-server/fraud")["instance_profile"]["inline_policy"])
    assert full["EncryptWithTheProjectKey"]["Resource"] == (
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert full["PublishTheAlerts"]["Resource"] == "arn:aws:sns:eu-west-1:111122223333:fraud-alerts"
    assert full["UseTheMlflowServer"]["Resource"].endswith("mlflow-tracking-server/fraud")


def test_the_service_role_passes_only_the_instance_role_and_trusts_only_emr_of_this_account():
    role = _docs()["service_role"]
    passed = role["inline_policy"]["Statement"]
    assert [s["Resource"] for s in passed] == ["arn:aws:iam::111122223333:role/fraud-emr-ec2"]
    trust = role["trust_policy"]["Statement"][0]
    assert trust["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == "111122223333"
    assert role["managed_policy_arns"] == ["arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]


def test_missing_account_or_an_alias_key_is_a_config_error():
    with pytest.raises(ConfigError, match="account_id"):
        policies.documents(load_config("emr", [b for b in BASE if not b.startswith("emr.account_id")]))
    with pytest.raises(ConfigError, match="alias"):
        _docs("emr.kms_key_id=alias/fraud")


def test_fraud_emr_iam_writes_one_json_file_per_policy(tmp_path, capsys):
    from emr import cli

    argv = ["iam", "--output", str(tmp_path)]
    for item in BASE:
        argv += ["--set", item]
    assert cli.main(argv) == 0
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == ["instance_profile.inline_policy.json", "instance_profile.trust_policy.json", "roles.json",
                       "service_role.inline_policy.json", "service_role.trust_policy.json"]
    for path in tmp_path.glob("*.json"):
        json.loads(path.read_text())
