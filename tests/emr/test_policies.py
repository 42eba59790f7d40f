"""The IAM documents of the roles: valid JSON policies, every value validated before it reaches one, grants only
for what the steps call, and no finding of the parliament IAM linter beyond the accepted ones."""
from __future__ import annotations

import fnmatch
import json

import pytest
from parliament import analyze_policy_string

from conf import ConfigError, load_config
from emr import policies

BASE = ["aws.region=eu-west-1", "emr.account_id=111122223333", "emr.bucket=acme-artifacts",
        "emr.log_uri=s3://acme-artifacts/emr-logs/", "emr.athena_output=s3://acme-data/athena-results/",
        "paths.raw=s3://acme-data/raw", "paths.features=s3://acme-data/features",
        "paths.training=s3://acme-data/training", "paths.publish=s3://acme-data/publish",
        "catalog.warehouse=s3://acme-data/warehouse", "emr.kms_key_id=1234abcd-12ab-34cd-56ef-1234567890ab",
        "emr.tls_certificates=s3://acme-artifacts/tls/certs.zip"]
KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SERVER = "arn:aws:sagemaker:eu-west-1:111122223333:mlflow-tracking-server/fraud"
FULL = ["scoring.sns_topic_arn=arn:aws:sns:eu-west-1:111122223333:fraud-alerts",
        "monitoring.sns_topic_arn=arn:aws:sns:eu-west-1:111122223333:fraud-monitoring",
        f"tracking.tracking_uri={SERVER}", "tracking.artifact_root=s3://acme-mlflow/artifacts",
        "emr.steps=[generate, build_features, train, score, monitor, maintain, publish]"]
ALLOWED_S3 = ("arn:aws:s3:::acme-data/features/*", "arn:aws:s3:::acme-data/training/*",
              "arn:aws:s3:::acme-data/publish/*", "arn:aws:s3:::acme-data/warehouse/*", "arn:aws:s3:::acme-data/raw/*",
              "arn:aws:s3:::acme-artifacts/fraud-platform/*", "arn:aws:s3:::acme-artifacts/emr-logs/*",
              "arn:aws:s3:::acme-artifacts/tls/certs.zip", "arn:aws:s3:::acme-data", "arn:aws:s3:::acme-artifacts")
ACCEPTED = json.loads((policies.TEMPLATES / "accepted-findings.json").read_text())["accepted"]


def _docs(*extra):
    return policies.documents(load_config("emr", [*BASE, *extra]))


def _statements(doc):
    return {s["Sid"]: s for s in doc["Statement"]}


def _resources(statement):
    found = statement["Resource"]
    return found if isinstance(found, list) else [found]


def _policies(docs):
    """(role.part, document) of every policy document."""
    return [(f"{role}.{part}", body) for role, parts in docs.items() for part, body in parts.items()
            if isinstance(body, dict)]


def test_every_document_is_a_json_policy_with_no_placeholder_left():
    for name, body in _policies(_docs(*FULL, "emr.runtime_roles=true")):
        text = json.dumps(body)
        assert "${" not in text, name
        assert json.loads(text)["Version"] == "2012-10-17"
        assert all(s["Effect"] in ("Allow", "Deny") and s["Action"] for s in body["Statement"]), name


def test_the_instance_profile_reaches_only_the_project_prefixes_and_database():
    statements = _statements(_docs()["instance_profile"]["inline_policy"])
    for statement in statements.values():
        assert "*" not in _resources(statement)
    s3 = [r for s in statements.values() for r in _resources(s) if r.startswith("arn:aws:s3")]
    assert set(s3) <= set(ALLOWED_S3)
    assert "arn:aws:s3:::acme-data/athena-results/*" not in s3  # no step runs Athena
    assert _resources(statements["ReadTheDeployedArtifacts"]) == ["arn:aws:s3:::acme-artifacts/fraud-platform/*",
                                                                  "arn:aws:s3:::acme-artifacts/tls/certs.zip"]
    assert statements["ReadTheDeployedArtifacts"]["Action"] == "s3:GetObject"  # the jobs never change the code
    prefixes = statements["ListOnlyTheProjectPrefixes"]["Condition"]["StringLike"]["s3:prefix"]
    assert "features/*" in prefixes and "fraud-platform/*" in prefixes and "*" not in prefixes
    assert _resources(statements["RegisterTheProjectTables"]) == [
        "arn:aws:glue:eu-west-1:111122223333:catalog", "arn:aws:glue:eu-west-1:111122223333:database/fraud",
        "arn:aws:glue:eu-west-1:111122223333:table/fraud/*"]


def test_the_raw_table_is_writable_only_when_a_step_writes_it():
    default = _statements(_docs()["instance_profile"]["inline_policy"])  # the default steps: no generate
    assert "arn:aws:s3:::acme-data/raw/*" in _resources(default["ReadTheInputs"])
    assert "arn:aws:s3:::acme-data/raw/*" not in _resources(default["WriteTheOutputs"])
    demo = _statements(_docs("emr.steps=[generate, build_features]")["instance_profile"]["inline_policy"])
    assert "arn:aws:s3:::acme-data/raw/*" in _resources(demo["WriteTheOutputs"])


def test_s3_grants_hold_only_in_the_account_the_key_only_through_s3_and_unencrypted_writes_are_denied():
    statements = _statements(_docs(*FULL)["instance_profile"]["inline_policy"])
    for sid, statement in statements.items():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and all(a.startswith("s3:") for a in actions):
            assert statement["Condition"]["StringEquals"]["s3:ResourceAccount"] == "111122223333", sid
    via = statements["EncryptTheProjectDataThroughS3"]
    assert via["Resource"] == KEY and via["Condition"]["StringEquals"]["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    deny = statements["DenyWritesWithoutTheProjectEncryption"]
    assert deny["Effect"] == "Deny" and deny["Action"] == "s3:PutObject"
    assert deny["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption"] == "aws:kms"
    assert set(_resources(deny)) == set(_resources(statements["WriteTheOutputs"]))


def test_topics_and_the_mlflow_server_are_granted_by_name_and_only_when_configured():
    plain = _statements(_docs()["instance_profile"]["inline_policy"])
    assert not {"PublishTheScoringAlerts", "PublishTheMonitoringAlerts",
                "TrackAndRegisterOnTheMlflowServer"} & set(plain)
    full = _statements(_docs(*FULL)["instance_profile"]["inline_policy"])
    assert full["PublishTheScoringAlerts"]["Resource"] == "arn:aws:sns:eu-west-1:111122223333:fraud-alerts"
    assert full["PublishTheMonitoringAlerts"]["Resource"] == "arn:aws:sns:eu-west-1:111122223333:fraud-monitoring"
    mlflow = full["TrackAndRegisterOnTheMlflowServer"]
    assert mlflow["Resource"] == SERVER
    assert "sagemaker-mlflow:*" not in mlflow["Action"]
    assert "sagemaker-mlflow:DeleteRegisteredModel" not in mlflow["Action"]
    assert {"sagemaker-mlflow:CreateModelVersion", "sagemaker-mlflow:GetModelVersionByAlias"} <= set(mlflow["Action"])


def test_runtime_roles_give_each_step_only_its_own_grants():
    docs = _docs(*FULL, "emr.runtime_roles=true")
    assert {k for k in docs if k.startswith("step_")} == {f"step_{s}" for s in policies.STEP_ACCESS} - {
        "step_ingest", "step_daily", "step_retrain"}
    nodes = _statements(docs["instance_profile"]["inline_policy"])
    assert not {"ReadTheInputs", "WriteTheOutputs", "PublishTheScoringAlerts"} & set(nodes)  # no data on the nodes
    assert "arn:aws:iam::111122223333:role/fraud-emr-ec2-score" in _resources(nodes["AssumeTheStepRoles"])
    score = _statements(docs["step_score"]["inline_policy"])
    assert _resources(score["WriteTheOutputs"]) == ["arn:aws:s3:::acme-data/publish/*"]
    assert set(_resources(score["ReadTheInputs"])) == {"arn:aws:s3:::acme-data/features/*",
                                                       "arn:aws:s3:::acme-mlflow/artifacts/*"}
    assert "PublishTheMonitoringAlerts" not in score and "sagemaker-mlflow:CreateRun" not in \
        score["TrackAndRegisterOnTheMlflowServer"]["Action"]
    train = _statements(docs["step_train"]["inline_policy"])
    assert "PublishTheScoringAlerts" not in train and "RegisterTheProjectTables" not in train
    trust = docs["step_train"]["trust_policy"]["Statement"][0]
    assert trust["Principal"] == {"AWS": "arn:aws:iam::111122223333:role/fraud-emr-ec2"}


def test_the_service_role_passes_only_the_instance_role_and_trusts_only_emr_of_this_account():
    role = _docs()["service_role"]
    statements = _statements(role["inline_policy"])
    assert _resources(statements["PassOnlyTheProjectInstanceRole"]) == ["arn:aws:iam::111122223333:role/fraud-emr-ec2"]
    assert statements["EncryptTheEbsVolumesWithTheDiskKey"]["Resource"] == KEY
    trust = role["trust_policy"]["Statement"][0]
    assert trust["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == "111122223333"
    assert role["managed_policy_arns"] == ["arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]


@pytest.mark.parametrize("override, key", [
    ("emr.glue_database='*'", "emr.glue_database"),
    ("emr.glue_database=fraud*", "emr.glue_database"),
    ("emr.instance_profile='*'", "emr.instance_profile"),
    ("emr.service_role=a/b", "emr.service_role"),
    ("paths.raw=s3://*/raw", "paths.raw"),
    ("paths.raw=s3://acme-data", "paths.raw"),
    ("paths.raw=s3://acme-data/", "paths.raw"),
    ("paths.publish=s3://acme-data/pub/*", "paths.publish"),
    ("paths.features=s3://acme-data/a/../b", "paths.features"),
    ("tracking.artifact_root=s3://Acme/x", "tracking.artifact_root"),
    ("emr.bucket=acme*", "emr.bucket"),
    ("emr.prefix=''", "emr.prefix"),
    ("emr.account_id=1234", "emr.account_id"),
    ("emr.account_id='*'", "emr.account_id"),
    ("aws.region='*'", "aws.region"),
    ("emr.kms_key_id=alias/fraud", "emr.kms_key_id"),
    ("emr.kms_key_id=arn:aws:kms:eu-west-1:111122223333:key/*", "emr.kms_key_id"),
    ("scoring.sns_topic_arn=arn:aws:sns:eu-west-1:111122223333:*", "scoring.sns_topic_arn"),
    ("monitoring.sns_topic_arn=arn:aws:sns:eu-west-1:999999999999:other", "monitoring.sns_topic_arn"),
    ("emr.mlflow_tracking_server_arn=arn:aws:sagemaker:eu-west-1:111122223333:mlflow-tracking-server/*",
     "emr.mlflow_tracking_server_arn"),
    ("tracking.credentials_secret=arn:aws:secretsmanager:eu-west-1:111122223333:secret:*",
     "tracking.credentials_secret"),
    ("emr.tls_certificates=s3://acme-artifacts", "emr.tls_certificates"),
    ("emr.athena_output=s3://acme-data/", "emr.athena_output"),
])
def test_a_value_that_would_widen_a_policy_is_refused_with_its_key(override, key):
    with pytest.raises(ConfigError, match=f"^{key.replace('.', '[.]')}: "):
        _docs(*FULL, override)


def _unexplained(docs) -> list[tuple[str, str, object]]:
    found = []
    for name, body in _policies(docs):
        for finding in analyze_policy_string(json.dumps(body), include_community_auditors=True).findings:
            actions = sorted(finding.location.get("actions", []))  # parliament puts the actions there
            if not any(fnmatch.fnmatch(name, a["document"]) and finding.issue == a["issue"]
                       and ("detail" not in a or a["detail"] == finding.detail)
                       and ("actions" not in a or sorted(a["actions"]) == actions) for a in ACCEPTED):
                found.append((name, finding.issue, finding.detail))
    return found


SCHEDULED = ("schedule.sns_topic_arn=arn:aws:sns:eu-west-1:111122223333:fraud-runs",
             "emr.runtime_roles=true")


@pytest.mark.parametrize("extra", [(), tuple(FULL), (*FULL, "emr.runtime_roles=true"), (*FULL, *SCHEDULED),
                                   (*FULL, "tracking.tracking_uri=https://mlflow.example.com",
                                    "tracking.credentials_secret=arn:aws:secretsmanager:eu-west-1:111122223333:"
                                    "secret:fraud/mlflow-AbCdEf")])
def test_the_iam_linter_finds_nothing_beyond_the_accepted_findings(extra):
    assert _unexplained(_docs(*extra)) == []


def test_the_schedule_roles_start_only_the_two_state_machines_and_drive_only_tagged_clusters():
    docs = _docs(*FULL, *SCHEDULED)
    starts = _statements(docs["scheduler"]["inline_policy"])["StartTheRuns"]
    assert starts["Action"] == "states:StartExecution" and _resources(starts) == [
        "arn:aws:states:eu-west-1:111122223333:stateMachine:fraud-daily",
        "arn:aws:states:eu-west-1:111122223333:stateMachine:fraud-retrain"]
    machine = _statements(docs["state_machine"]["inline_policy"])
    assert machine["DriveOwnClusters"]["Condition"] == {"StringEquals": {"aws:ResourceTag/project": "fraud-platform"}}
    assert _resources(machine["PassTheClusterRoles"]) == ["arn:aws:iam::111122223333:role/fraud-emr-service",
                                                          "arn:aws:iam::111122223333:role/fraud-emr-ec2"]
    assert machine["ReportFailures"]["Resource"] == "arn:aws:sns:eu-west-1:111122223333:fraud-runs"
    assert {"step_daily", "step_retrain"} <= set(docs)  # the scheduled steps' runtime roles
    assert "state_machine" not in _docs(*FULL)  # no schedule configured: no schedule roles


def test_the_linter_catches_what_the_checks_exist_for():
    """The lint is able to fail: a wildcard grant like the old `sagemaker-mlflow:*` is a finding."""
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert _unexplained({"instance_profile": {"inline_policy": wide}})


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


def test_every_accepted_finding_is_still_found_somewhere():
    """The list holds no stale entry: each accepted finding occurs in one of the linted configurations."""
    seen = set()
    for extra in ((), (*FULL, "emr.runtime_roles=true"), (*FULL, *SCHEDULED)):
        for name, body in _policies(_docs(*extra)):
            for finding in analyze_policy_string(json.dumps(body), include_community_auditors=True).findings:
                seen |= {i for i, a in enumerate(ACCEPTED) if fnmatch.fnmatch(name, a["document"])
                         and finding.issue == a["issue"]}
    assert seen == set(range(len(ACCEPTED)))


def test_an_unset_account_is_named_as_unset():
    with pytest.raises(ConfigError, match="^emr.account_id: not set; it must be a 12-digit AWS account id$"):
        policies.documents(load_config("emr", [b for b in BASE if not b.startswith("emr.account_id")]))
