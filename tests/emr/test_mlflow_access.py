"""MLflow from a cluster: TLS (an https:// server or SageMaker's managed MLflow by ARN), credentials from Secrets
Manager (a real local AWS endpoint) into MLflow's environment variables, and never in logs, errors or steps."""
from __future__ import annotations

import importlib.metadata
import json
import logging

import pytest

from conf import AwsConf, ConfigError, load_config
from emr import clients
from jobs.common import CREDENTIAL_VARIABLES, configure_logging, load_tracking_credentials, log
from tests.emr.conftest import SECURE

SERVER = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/fraud"


def test_a_cluster_config_refuses_plain_http_unless_explicitly_allowed():
    with pytest.raises(ConfigError, match="plain http"):
        load_config("emr", ["tracking.tracking_uri=http://mlflow.internal:5000"])
    allowed = load_config("emr", ["tracking.tracking_uri=http://mlflow.internal:5000",
                                  "tracking.allow_insecure_http=true"])
    assert allowed.tracking.tracking_uri.startswith("http://")
    assert load_config(None, ["tracking.tracking_uri=http://127.0.0.1:5000"])  # a local run is not a cluster


def test_a_cluster_config_takes_https_or_a_sagemaker_tracking_server_and_nothing_else():
    assert load_config("emr", ["tracking.tracking_uri=https://mlflow.example.com"])
    assert load_config("emr", [f"tracking.tracking_uri={SERVER}"]).tracking.tracking_uri == SERVER
    for uri in ("sqlite:///mlflow.db", "arn:aws:s3:::bucket", "file:///tmp/mlruns"):
        with pytest.raises(ConfigError, match="not an https:// server or a SageMaker"):
            load_config("emr", [f"tracking.tracking_uri={uri}"])


def test_credentials_in_a_cluster_tracking_uri_are_refused_without_being_repeated():
    with pytest.raises(ConfigError) as raised:
        load_config("emr", ["tracking.tracking_uri=https://ana:hunter2@mlflow.example.com"])
    assert "hunter2" not in str(raised.value) and "credentials_secret" in str(raised.value)


def test_the_sagemaker_mlflow_plugin_serves_arn_tracking_uris():
    pytest.importorskip("sagemaker_mlflow")
    stores = {e.name for e in importlib.metadata.entry_points(group="mlflow.tracking_store")}
    assert "arn" in stores


@pytest.fixture
def secrets(aws_endpoint, monkeypatch):
    for name in CREDENTIAL_VARIABLES.values():
        monkeypatch.delenv(name, raising=False)
    return clients.client("secretsmanager", AwsConf("us-east-1", aws_endpoint))


def _secret(secrets, name: str, value: str) -> str:
    return secrets.create_secret(Name=name, SecretString=value)["ARN"]


def test_the_servers_credentials_come_from_secrets_manager_into_mlflows_environment(secrets, monkeypatch):
    import os

    arn = _secret(secrets, "fraud/mlflow-basic", json.dumps({"username": "ana", "password": "hunter2"}))
    config = load_config("emr", ["tracking.tracking_uri=https://mlflow.example.com",
                                 f"tracking.credentials_secret={arn}"])
    assert load_tracking_credentials(config, secrets) == ["MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME"]
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("ana", "hunter2")


def test_credentials_already_in_the_environment_win(secrets, monkeypatch):
    import os

    arn = _secret(secrets, "fraud/mlflow-token", json.dumps({"token": "from-the-secret"}))
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "from-the-node")
    config = load_config("emr", [f"tracking.credentials_secret={arn}"])
    assert load_tracking_credentials(config, secrets) == []
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == "from-the-node"


def test_a_secret_without_credentials_is_a_config_error_that_shows_no_value(secrets):
    arn = _secret(secrets, "fraud/mlflow-bad", json.dumps({"user": "ana", "pass": "hunter2"}))
    with pytest.raises(ConfigError, match="username and password, or token") as raised:
        load_tracking_credentials(load_config("emr", [f"tracking.credentials_secret={arn}"]), secrets)
    assert "hunter2" not in str(raised.value)


def test_the_jobs_log_lines_mask_credentials(capsys):
    configure_logging()
    log.info("tracking to %s", "https://ana:hunter2@mlflow.example.com")
    logging.getLogger("mlflow.tracking").warning("retrying https://ana:hunter2@mlflow.example.com/api")
    err = capsys.readouterr().err
    assert "hunter2" not in err and "https://***@mlflow.example.com" in err


def test_the_emr_command_line_shows_no_credential_in_its_errors(capsys):
    from emr import cli

    argv = ["plan", "--set", "tracking.tracking_uri=https://ana:hunter2@mlflow.example.com"]
    for item in SECURE:
        argv += ["--set", item]
    assert cli.main(argv) == 1
    assert "hunter2" not in capsys.readouterr().err
    assert cli.main([*argv[:1], *argv[3:], "--set", "model.gbt={seed: 1}", "--build-dir", "none"]) == 0
    capsys.readouterr()
