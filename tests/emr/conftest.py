"""Fixtures for the EMR tests: one build of the artifacts, the EMR config pointed at the moto server, and a way to
move EMR steps to an end state.

moto's EMR keeps every step PENDING or RUNNING (its state manager has no EMR model, and its moto-api has no EMR
endpoint; getmoto/moto#1690 is open). Its maintainers' way (getmoto/moto#380) is to set the state on moto's own
backend; `ThreadedMotoServer` serves from this process's backends, so `StepStates` does that while the code
under test reads the steps over HTTP with real boto3 clients and boto3's own `step_complete` waiter.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from conf import CONF_DIR, Config, load_config
from emr import layout, package

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
ARTIFACTS = "fraud-artifacts-test"
DATA = "fraud-data-test"


# what a cluster's security configuration needs (emr/security.py): the KMS key and the TLS certificates
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECURE = (f"emr.account_id={ACCOUNT}", f"emr.kms_key_id={KMS_KEY}",
          f"emr.tls_certificates=s3://{ARTIFACTS}/tls/certificates.zip")


def emr_overrides(endpoint: str, *extra: str) -> list[str]:
    return [f"aws.endpoint_url={endpoint}", f"aws.region={REGION}", f"emr.bucket={ARTIFACTS}", *SECURE,
            "emr.poll_seconds=1", "emr.max_wait_seconds=60",
            f"emr.log_uri=s3://{ARTIFACTS}/emr-logs/",
            f"paths.raw=s3://{DATA}/raw", f"paths.features=s3://{DATA}/features",
            f"paths.training=s3://{DATA}/training", f"paths.publish=s3://{DATA}/publish",
            f"emr.athena_output=s3://{DATA}/athena-results/", *extra]


def emr_config(endpoint: str, *extra: str) -> Config:
    return load_config(CONF_DIR / "emr.yaml", emr_overrides(endpoint, *extra))


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """`fraud emr build --no-env` of this checkout, plus a small venv packed by the same venv-pack call as the
    full one (packing every pinned dependency takes minutes: README "Run on EMR" has that command)."""
    output = tmp_path_factory.mktemp("dist") / "emr"
    package.build(output, CONF_DIR / "emr.yaml", "/usr", with_environment=False, version="0123456789ab")
    venv = package.new_venv(tmp_path_factory.mktemp("venv") / "env", with_pip=False)
    package.pack_environment(venv, output / layout.ENVIRONMENT, "/usr")
    return output


def _backend():
    from moto.backends import get_backend

    return get_backend("emr")[ACCOUNT][REGION]


def set_step_state(cluster_id: str, step_id: str, state: str, failure: dict | None = None) -> None:
    """Put one step in `state` on moto's backend; `failure` is its FailureDetails."""
    step = next(s for s in _backend().clusters[cluster_id].steps if s.id == step_id)
    step.state = state
    status = {"State": state, "StateChangeReason": {"Message": (failure or {}).get("Reason", "")}, "Timeline": {}}
    if failure:
        status["FailureDetails"] = failure
    step.Status = status  # moto's serializer takes a PascalCase attribute before its own `status` property


class StepStates:
    """While active, the steps of clusters created meanwhile end as `states` (by position), as EMR would run them."""

    def __init__(self, states: list[str], failure: dict | None = None, limit_seconds: float = 30):
        self.states, self.failure, self.limit = states, failure, limit_seconds
        self._stop = threading.Event()

    def __enter__(self) -> "StepStates":
        self._before = set(_backend().clusters)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            for cluster_id, found in list(_backend().clusters.items()):
                if cluster_id in self._before:
                    continue
                for step, state in zip(list(found.steps), self.states):
                    if step.state != state:
                        set_step_state(cluster_id, step.id, state, self.failure if state == "FAILED" else None)
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
