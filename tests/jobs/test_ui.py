"""`fraud ui`: the MLflow UI on the configured store, read through its REST API like a browser's page does."""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from jobs import ui


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_line_with(process: subprocess.Popen, text: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 1)[0]:
            line = process.stdout.readline()
            if text in line:
                return line
            if not line and process.poll() is not None:
                break
    raise AssertionError(f"no line with {text!r} within {seconds} s")


@pytest.fixture(scope="module")
def served(pipeline_run, tmp_path_factory):
    tracking = pipeline_run.config.tracking
    port = free_port()
    env = {**os.environ, "FRAUD_LOG_DIR": str(tmp_path_factory.mktemp("logs"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "ui", "--port", str(port), "--set",
         f"tracking.tracking_uri={tracking.tracking_uri}", "--set", f"tracking.artifact_root={tracking.artifact_root}"],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield first_line_with(process, "MLflow UI: ", 120), port
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_it_prints_the_address_it_serves(served):
    line, port = served
    assert f"MLflow UI: http://127.0.0.1:{port}" in line


def test_the_training_run_and_its_metrics_come_back_through_the_rest_api(served, pipeline_run):
    _, port = served
    run_id = pipeline_run.results["trained"]["mlflow_run_id"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/get?run_id={run_id}") as answer:
        run = json.load(answer)["run"]
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["test_average_precision_mean"] == pytest.approx(
        pipeline_run.results["trained"]["test"]["average_precision"]["mean"])


def test_a_missing_local_store_is_refused_before_any_server_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # it would win over the config
    with pytest.raises(ui.ConfigError, match="no MLflow store at sqlite:///"):
        ui.main(["--set", f"tracking.tracking_uri=sqlite:///{tmp_path}/none.db"])
