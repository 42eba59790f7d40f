"""Deploy and run against a real local AWS endpoint (moto in server mode) through boto3: the S3 layout and its
encryption, the cluster request, the steps in order, the waiter's success and failure paths, SNS."""
from __future__ import annotations

import io
import json
import re

import pytest

from conf import AwsConf, CONF_DIR
from emr import clients, layout
from emr import cli as emr_cli
from emr.runner import EmrPipeline
from tests.conftest import sns_inbox
from tests.emr.conftest import ARTIFACTS, KMS_KEY, StepStates, emr_config, emr_overrides, set_step_state

STEPS = ["build_features", "train", "score", "monitor", "maintain", "publish"]

FAILURE = {"Reason": "Exception in thread main: ContractError: features: column tx_amount is null",
           "Message": "Traceback (most recent call last): ...",
           "LogFile": f"s3://{ARTIFACTS}/emr-logs/j-X/steps/s-X/stderr.gz"}


@pytest.fixture(scope="module")
def aws(aws_endpoint):
    clients_ = {name: clients.client(name, AwsConf("us-east-1", aws_endpoint))
                for name in ("s3", "emr", "glue", "sns", "sqs")}
    if ARTIFACTS not in [b["Name"] for b in clients_["s3"].list_buckets()["Buckets"]]:
        clients_["s3"].create_bucket(Bucket=ARTIFACTS)
    return clients_


def _pipeline(aws, endpoint, *extra) -> tuple[EmrPipeline, io.StringIO]:
    out = io.StringIO()
    return EmrPipeline(emr_config(endpoint, *extra), s3=aws["s3"], emr=aws["emr"], glue=aws["glue"],
                       sns=aws["sns"], out=out), out


def test_deploy_uploads_the_build_under_its_commit_encrypted(aws, aws_endpoint, built):
    pipeline, out = _pipeline(aws, aws_endpoint)
    s3 = pipeline.deploy(built)
    keys = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=ARTIFACTS, Prefix="fraud-platform/")["Contents"]}
    manifest = json.loads((built / layout.MANIFEST).read_text())
    root = "fraud-platform/0123456789ab/"
    assert {root + name for name in manifest["files"]} | {root + "manifest.json"} <= keys
    assert s3.env_key() in keys and s3.env_key() == (
        f"fraud-platform/environments/{manifest['env_digest']}/environment.tar.gz")
    for key in (root + layout.PYFILES, s3.env_key()):
        head = aws["s3"].head_object(Bucket=ARTIFACTS, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == KMS_KEY
    body = aws["s3"].get_object(Bucket=ARTIFACTS, Key=root + layout.PYFILES)["Body"].read()
    assert body == (built / layout.PYFILES).read_bytes()
    # a second deploy finds the environment there and does not upload it again
    pipeline.deploy(built)
    assert "already there" in out.getvalue()


def test_deploy_with_a_kms_key_writes_sse_kms(aws, aws_endpoint, built):
    key = aws_kms_key(aws_endpoint)
    pipeline, _ = _pipeline(aws, aws_endpoint, f"emr.kms_key_id={key}", "emr.prefix=kms-test")
    pipeline.deploy(built)
    head = aws["s3"].head_object(Bucket=ARTIFACTS, Key=f"kms-test/0123456789ab/{layout.PYFILES}")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].endswith(key.split("/")[-1])


def aws_kms_key(endpoint: str) -> str:
    return clients.client("kms", AwsConf("us-east-1", endpoint)).create_key()["KeyMetadata"]["Arn"]


def _run_cli(aws_endpoint, built, capsys, states, failure=None, *extra) -> tuple[int, str, str]:
    argv = ["run", "--config", str(CONF_DIR / "emr.yaml"), "--build-dir", str(built)]
    for item in emr_overrides(aws_endpoint, *extra):
        argv += ["--set", item]
    with StepStates(states, failure):
        code = emr_cli.main(argv)
    out = capsys.readouterr().out
    return code, out, re.search(r"created cluster (j-\w+)", out).group(1)


def test_run_creates_the_cluster_from_the_config(aws, aws_endpoint, built, capsys):
    code, _, cluster_id = _run_cli(aws_endpoint, built, capsys, ["COMPLETED"] * 6)
    assert code == 0
    found = aws["emr"].describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert found["ReleaseLabel"] == "emr-7.5.0" and found["LogUri"] == f"s3://{ARTIFACTS}/emr-logs/"
    assert found["ServiceRole"] == "fraud-emr-service"
    assert found["Ec2InstanceAttributes"]["IamInstanceProfile"] == "fraud-emr-ec2"
    assert {a["Name"] for a in found["Applications"]} == {"Hadoop", "Spark"}
    classifications = {c["Classification"]: c.get("Properties") for c in found["Configurations"]}
    assert "emrfs-site" not in classifications  # S3 encryption is the security configuration's
    assert found["SecurityConfiguration"].startswith("fraud-emr-")
    assert classifications["spark-defaults"]["spark.executor.instances"] == "8"
    groups = {g["InstanceGroupType"]: g for g in aws["emr"].list_instance_groups(ClusterId=cluster_id)["InstanceGroups"]}
    assert groups["MASTER"]["Market"] == "ON_DEMAND" and groups["TASK"]["Market"] == "SPOT"
    assert groups["CORE"]["RequestedInstanceCount"] == 2
    bootstrap = aws["emr"].list_bootstrap_actions(ClusterId=cluster_id)["BootstrapActions"]
    assert bootstrap[0]["ScriptPath"] == f"s3://{ARTIFACTS}/fraud-platform/0123456789ab/bootstrap/install-python.sh"
    # the run ended the cluster it created
    assert found["Status"]["State"] in ("TERMINATING", "TERMINATED")


def test_run_adds_the_steps_in_order_with_their_arguments(aws, aws_endpoint, built, capsys):
    code, out, cluster_id = _run_cli(aws_endpoint, built, capsys, ["COMPLETED"] * 6)
    assert code == 0
    added = re.findall(r"added step (s-\w+) fraud (\w+)", out)
    assert [name for _, name in added] == STEPS
    listed = aws["emr"].list_steps(ClusterId=cluster_id)["Steps"]  # newest first, as EMR lists them
    assert [s["Name"] for s in reversed(listed)] == [f"fraud {name}" for _, name in added]
    steps = {s["Id"]: s for s in listed}
    for step_id, name in added:
        args = steps[step_id]["Config"]["Args"]
        assert steps[step_id]["Config"]["Jar"] == "command-runner.jar"
        assert steps[step_id]["ActionOnFailure"] == "CANCEL_AND_WAIT"
        assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
        assert f"s3://{ARTIFACTS}/fraud-platform/0123456789ab/entrypoints/{name}.py" in args
        assert f"aws.endpoint_url={aws_endpoint}" in args  # the runner's overrides reach every job
    score_args = steps[added[2][0]]["Config"]["Args"]
    assert score_args[score_args.index("--start-date") + 1] == "2018-09-24"
    monitor_args = steps[added[3][0]]["Config"]["Args"]
    assert monitor_args[monitor_args.index("--date") + 1] == "2018-09-24"  # the scored days


def test_a_run_whose_steps_complete_exits_zero(aws, aws_endpoint, built, capsys):
    code, out, _ = _run_cli(aws_endpoint, built, capsys, ["COMPLETED"] * 6)
    assert code == 0
    assert out.count(": COMPLETED") == 6 and "pipeline succeeded" in out


def test_a_failed_step_exits_non_zero_with_its_reason_and_logs(aws, aws_endpoint, built, capsys):
    states = ["COMPLETED", "FAILED", "CANCELLED", "CANCELLED", "CANCELLED", "CANCELLED"]
    code, out, cluster_id = _run_cli(aws_endpoint, built, capsys, states, FAILURE)
    assert code == 1
    assert re.search(r"step s-\w+ fraud train: FAILED: Exception in thread main: ContractError", out)
    assert f"step log: {FAILURE['LogFile']}" in out
    assert f"Spark driver and executor logs: s3://{ARTIFACTS}/emr-logs/{cluster_id}/containers/" in out
    assert "fraud score: COMPLETED" not in out and "pipeline failed" in out
    cluster = aws["emr"].describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Status"]["State"] in ("TERMINATING", "TERMINATED")


def test_a_failure_without_details_points_at_the_step_log_folder(aws, aws_endpoint, built):
    pipeline, out = _pipeline(aws, aws_endpoint)
    run = pipeline.submit(pipeline.layout({"version": "0123456789ab", "env_digest": "d"}), "emr.yaml")
    set_step_state(run.cluster_id, run.step_ids[0], "CANCELLED")
    assert pipeline.wait(run) == 1
    assert (f"step logs: s3://{ARTIFACTS}/emr-logs/{run.cluster_id}/steps/{run.step_ids[0]}/"
            in out.getvalue())


def test_a_step_still_running_when_the_wait_ends_is_a_failure(aws, aws_endpoint):
    pipeline, out = _pipeline(aws, aws_endpoint, "emr.max_wait_seconds=2", "emr.steps=[train]")
    run = pipeline.submit(pipeline.layout({"version": "v", "env_digest": "d"}), "emr.yaml")
    assert pipeline.wait(run) == 1
    assert "RUNNING: still running when the wait ended" in out.getvalue()


def test_steps_go_to_an_existing_cluster_which_is_left_running(aws, aws_endpoint):
    existing = aws["emr"].run_job_flow(
        Name="shared", ReleaseLabel="emr-7.5.0", JobFlowRole="r", ServiceRole="s",
        Instances={"KeepJobFlowAliveWhenNoSteps": True, "InstanceGroups": [
            {"InstanceRole": "MASTER", "InstanceType": "m6i.xlarge", "InstanceCount": 1}]})["JobFlowId"]
    pipeline, out = _pipeline(aws, aws_endpoint, f"emr.cluster_id={existing}", "emr.steps=[train, score]")
    run = pipeline.submit(pipeline.layout({"version": "v", "env_digest": "d"}), "emr.yaml")
    assert run.cluster_id == existing and not run.transient and "created cluster" not in out.getvalue()
    for step_id in run.step_ids:
        set_step_state(existing, step_id, "COMPLETED")
    assert pipeline.wait(run) == 0
    assert aws["emr"].describe_cluster(ClusterId=existing)["Cluster"]["Status"]["State"] not in (
        "TERMINATING", "TERMINATED")


def test_the_run_outcome_is_published_to_sns(aws, aws_endpoint, built, capsys):
    topic, queue = sns_inbox(aws["sns"], aws["sqs"], "fraud-runs")
    states = ["FAILED", "CANCELLED", "CANCELLED", "CANCELLED", "CANCELLED", "CANCELLED"]
    code, _, cluster_id = _run_cli(aws_endpoint, built, capsys, states, FAILURE, f"scoring.sns_topic_arn={topic}")
    assert code == 1
    message = json.loads(aws["sqs"].receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]["Body"])
    assert message["Subject"] == f"Fraud pipeline on EMR failed ({cluster_id})"
    assert re.search(r"fraud build_features \(s-\w+\): FAILED", message["Message"])
    assert re.search(r"fraud publish \(s-\w+\): CANCELLED", message["Message"])


def _copy_of(built, tmp_path):
    import shutil

    copy = tmp_path / "emr"
    shutil.copytree(built, copy)
    return copy


def _uploaded(aws, prefix: str) -> list[str]:
    return [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", [])]


def test_deploy_uploads_nothing_when_a_file_differs_from_the_manifest(aws, aws_endpoint, built, tmp_path):
    from emr.runner import DeployError

    copy = _copy_of(built, tmp_path)
    (copy / "entrypoints" / "score.py").write_text("import os; os.system('curl attacker')\n")
    pipeline, _ = _pipeline(aws, aws_endpoint, "emr.prefix=tampered")
    with pytest.raises(DeployError, match=r"entrypoints/score.py: sha256 differs from the manifest's"):
        pipeline.deploy(copy)
    assert _uploaded(aws, "tampered/") == []


def test_deploy_refuses_a_manifest_that_names_a_file_outside_the_build(aws, aws_endpoint, built, tmp_path):
    from emr.runner import DeployError

    copy = _copy_of(built, tmp_path)
    manifest = json.loads((copy / layout.MANIFEST).read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (copy / layout.MANIFEST).write_text(json.dumps(manifest))
    pipeline, _ = _pipeline(aws, aws_endpoint, "emr.prefix=outside")
    with pytest.raises(DeployError, match="'../../etc/passwd': not a file name inside the build folder"):
        pipeline.deploy(copy)
    assert _uploaded(aws, "outside/") == []


def test_fraud_emr_deploy_reports_a_missing_file(aws_endpoint, built, tmp_path, capsys):
    copy = _copy_of(built, tmp_path)
    (copy / layout.BOOTSTRAP).unlink()
    argv = ["deploy", "--config", str(CONF_DIR / "emr.yaml"), "--build-dir", str(copy)]
    for item in emr_overrides(aws_endpoint, "emr.prefix=missing"):
        argv += ["--set", item]
    assert emr_cli.main(argv) == 1
    assert f"{layout.BOOTSTRAP}: missing" in capsys.readouterr().err


def test_deploy_refuses_a_packed_environment_that_is_not_the_built_one(aws, aws_endpoint, built, tmp_path):
    from emr.runner import DeployError

    copy = _copy_of(built, tmp_path)
    manifest = json.loads((copy / layout.MANIFEST).read_text())
    (copy / layout.MANIFEST).write_text(json.dumps({**manifest, "environment_sha256": "0" * 64}))
    pipeline, _ = _pipeline(aws, aws_endpoint, "emr.prefix=other-env")
    with pytest.raises(DeployError, match="environment.tar.gz: sha256 differs"):
        pipeline.deploy(copy)
    assert _uploaded(aws, "other-env/") == []
