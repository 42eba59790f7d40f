"""The dry run: the EMR requests built from the config, checked against the EMR API's own request model
(botocore's service definition), and `python -m emr plan` printing them without calling AWS."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import botocore.session
import pytest
from botocore.validate import ParamValidator

from conf import CONF_DIR, ConfigError, load_config
from emr import cluster, layout, package
from emr.layout import S3Layout
from tests.emr.conftest import SECURE

S3 = S3Layout("artifacts", "fraud-platform", "0123456789ab", "digest")
MODEL = botocore.session.get_session().get_service_model("emr")
STEPS = ["build_features", "train", "score", "monitor", "maintain", "publish"]


def _emr(*extra: str):
    """conf/emr.yaml with what its security configuration needs (a KMS key, TLS certificates)."""
    return load_config("emr", [*SECURE, *extra])


def _valid(operation: str, body: dict) -> None:
    report = ParamValidator().validate(body, MODEL.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("fleets", [False, True])
def test_the_cluster_request_is_valid_for_the_emr_api(fleets):
    config = _emr(f"emr.instance_fleets={str(fleets).lower()}", "emr.subnet_id=subnet-1")
    request = cluster.run_job_flow_request(config, S3, "fraud-emr-0123456789ab")
    _valid("RunJobFlow", request)
    assert ("InstanceFleets" in request["Instances"]) is fleets
    assert request["AutoTerminationPolicy"] == {"IdleTimeout": 1800}
    assert request["ReleaseLabel"].startswith("emr-7.")


def test_the_steps_are_valid_for_the_emr_api_and_in_pipeline_order():
    config = _emr()
    steps = cluster.steps(config, S3, "emr.yaml")
    _valid("AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": steps})
    assert [s["Name"] for s in steps] == [f"fraud {name}" for name in STEPS]  # no simulated data over real data
    assert {s["HadoopJarStep"]["Jar"] for s in steps} == {"command-runner.jar"}


def test_only_the_demo_profile_generates_and_it_says_overwrite():
    demo = load_config("emr-demo", list(SECURE))
    assert demo.environment == "emr" and demo.emr.steps == ("generate", *STEPS)
    args = cluster.spark_submit_args("generate", demo, S3, "emr-demo.yaml")
    assert args[args.index("--output") + 1:args.index("--output") + 3] == ["s3://CHANGE-ME-fraud-data/raw",
                                                                           "--overwrite"]
    assert "--overwrite" not in cluster.spark_submit_args("generate", _emr(), S3, "emr.yaml")


def test_a_step_is_spark_submit_in_cluster_mode_with_the_packed_venv_and_the_zip():
    args = cluster.spark_submit_args("train", _emr(), S3, "emr.yaml", ("model.parallelism=4",))
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    confs = {args[i + 1] for i, a in enumerate(args) if a == "--conf"}
    assert {"spark.archives=s3://artifacts/fraud-platform/environments/digest/environment.tar.gz#environment",
            "spark.yarn.appMasterEnv.PYSPARK_PYTHON=./environment/bin/python",
            "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python"} <= confs
    assert args[args.index("--py-files") + 1] == "s3://artifacts/fraud-platform/0123456789ab/pyfiles/fraud_platform.zip"
    assert args[args.index("--files") + 1] == "s3://artifacts/fraud-platform/0123456789ab/conf/emr.yaml"
    main = args.index("s3://artifacts/fraud-platform/0123456789ab/entrypoints/train.py")
    assert args[main + 1:main + 7] == ["--config", "emr.yaml", "--features", "s3://CHANGE-ME-fraud-data/features",
                                       "--output", "s3://CHANGE-ME-fraud-data/training"]
    assert args[-2:] == ["--set", "model.parallelism=4"]  # the runner's overrides reach the job


def test_spark_is_sized_from_the_nodes_in_the_config():
    config = load_config("emr", ["emr.core_instance_count=3", "emr.task_instance_count=1",
                                 "emr.executors_per_node=2", "emr.executor_cores=4"])
    defaults = next(c["Properties"] for c in cluster.configurations(config.emr)
                    if c["Classification"] == "spark-defaults")
    assert defaults["spark.executor.instances"] == "8" and defaults["spark.executor.cores"] == "4"
    args = cluster.spark_submit_args("build_features", config, S3, "emr.yaml")
    assert "spark.shuffle_partitions=64" in args  # 8 executors x 4 cores x 2


def test_uploads_are_encrypted_with_sse_s3_or_the_configured_kms_key():
    plain = load_config("emr")
    kms = _emr()
    assert cluster.encryption_args(plain.emr) == {"ServerSideEncryption": "AES256"}
    assert cluster.encryption_args(kms.emr) == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms.emr.kms_key_id}
    # EMRFS's encryption is the security configuration's, not a second emrfs-site setting that could differ
    assert "emrfs-site" not in {c["Classification"] for c in cluster.configurations(kms.emr)}


def test_a_credential_in_an_override_never_becomes_a_step_argument():
    for item in ("tracking.tracking_uri=https://ana:hunter2@mlflow.example.com", "tracking.password=hunter2"):
        with pytest.raises(ConfigError) as raised:
            cluster.steps(_emr(), S3, "emr.yaml", (item,))
        assert "hunter2" not in str(raised.value) and "***" in str(raised.value)


def test_the_score_step_scores_the_last_simulated_days_unless_told():
    config = _emr("simulator.start_date=2018-04-01", "simulator.days=10", "scoring.pipeline_days=3")
    assert [d.isoformat() for d in cluster.score_dates(config)] == ["2018-04-08", "2018-04-10"]
    told = load_config("emr", ["emr.score_start_date=2018-05-01", "emr.score_end_date=2018-05-02"])
    assert [d.isoformat() for d in cluster.score_dates(told)] == ["2018-05-01", "2018-05-02"]


def test_an_existing_cluster_gets_the_steps_and_no_new_cluster():
    plan = cluster.plan(_emr(), S3, "emr.yaml", cluster_id="j-EXISTING")
    assert plan["run_job_flow"] is None and plan["cluster_id"] == "j-EXISTING" and len(plan["steps"]) == 6
    assert plan["security_configuration"] is None  # a running cluster keeps the one it started with


def test_python_m_emr_plan_prints_the_requests_without_aws(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # no credentials anywhere: any AWS call would fail
    settings = [arg for item in SECURE for arg in ("--set", item)]
    done = subprocess.run([sys.executable, "-m", "emr", "plan", "--config", str(CONF_DIR / "emr.yaml"),
                           "--build-dir", str(tmp_path / "none"), *settings], cwd=package.ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert set(plan) == {"security_configuration", "run_job_flow", "cluster_id", "steps", "step_roles"}
    _valid("CreateSecurityConfiguration", plan["security_configuration"])
    _valid("RunJobFlow", plan["run_job_flow"])
    assert plan["run_job_flow"]["SecurityConfiguration"] == plan["security_configuration"]["Name"]
    _valid("AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": plan["steps"]})
    version = package.git_version()
    assert f"/fraud-platform/{version}/entrypoints/build_features.py" in " ".join(
        plan["steps"][0]["HadoopJarStep"]["Args"])


def test_the_plan_uses_the_last_builds_version(built):
    from emr import cli

    s3, name = cli._layout(_emr(), built)
    assert (s3.version, name) == ("0123456789ab", "emr.yaml")
    assert s3.env_digest == json.loads((built / layout.MANIFEST).read_text())["env_digest"]


def test_run_without_a_build_stops_with_a_message(tmp_path, capsys):
    from emr import cli

    assert cli.main(["run", "--build-dir", str(tmp_path / "nothing"), *[a for i in SECURE for a in ("--set", i)]]) == 1
    assert "run `fraud emr build" in capsys.readouterr().err
