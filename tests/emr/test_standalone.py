"""A job submitted to a real Spark standalone cluster on 127.0.0.1 (a master and a worker started from the
pyspark install) with the code shipped as on EMR (`--py-files` of the built zip): spark-submit's master wins over
the config's `spark.master: local[2]`, and the rows are those of the local run."""
from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest

from emr import layout
from tests.emr.test_package import _clean_env, _isolated_python

SPARK_HOME = Path(pyspark.__file__).parent
DAY = dt.date(2018, 5, 10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and one worker (1 core, 2 GB) on 127.0.0.1: (master URL, the master's JSON status URL)."""
    env = {**_clean_env(), "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1"}
    port, ui = free_port(), free_port()
    logs = tmp_path_factory.mktemp("standalone")
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master = subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)], env=env,
                              stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT)
    status = f"http://127.0.0.1:{ui}/json/"
    worker = None
    try:
        wait_for(status)
        worker = subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
                                   "--host", "127.0.0.1", "--cores", "1", "--memory", "2g", "--webui-port",
                                   str(free_port()), "--work-dir", str(logs / "work")], env=env,
                                  stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not wait_for(status)["aliveworkers"]:
            assert time.monotonic() < deadline, (logs / "worker.log").read_text()[-2000:]
            time.sleep(0.5)
        yield f"spark://127.0.0.1:{port}", status
    finally:
        for process in filter(None, (worker, master)):
            process.terminate()
            process.wait(timeout=30)


def test_spark_submit_master_wins_over_the_config_and_the_rows_match_the_local_run(spark, cluster, built,
                                                                                  small_raw, small_features,
                                                                                  tmp_path):
    master_url, status = cluster
    python = _isolated_python(tmp_path / "python")
    output = tmp_path / "features"
    env = {**_clean_env(), "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python)}
    # the default config (conf/local.yaml, spark.master: local[2]) from the zip: no --config, no master override
    command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", master_url, "--name", "standalone-features",
               "--conf", "spark.executor.memory=1g", "--conf", "spark.ui.enabled=false",
               "--py-files", str(built / layout.PYFILES), str(built / "entrypoints" / "build_features.py"),
               "--input", f"{small_raw}/transactions", "--output", str(output),
               "--start-date", str(DAY), "--end-date", str(DAY), "--set", "validation.enabled=false"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    apps = wait_for(status)["completedapps"]
    assert [app["name"] for app in apps] == ["standalone-features"]  # the cluster ran it, not a local[2] driver
    assert apps[0]["cores"] >= 1 and apps[0]["state"] == "FINISHED"

    got = spark.read.parquet(str(output)).where(f"tx_date = '{DAY}'")
    want = spark.read.parquet(small_features[0]).where(f"tx_date = '{DAY}'").select(*got.columns)
    assert got.count() == want.count() > 0
    assert got.exceptAll(want).count() == 0 and want.exceptAll(got).count() == 0
