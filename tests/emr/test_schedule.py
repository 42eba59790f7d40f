"""The nightly and weekly schedules: the state machines' definitions (the EMR requests inside them checked
against botocore's EMR model), and `fraud emr schedule` creating then updating them on the local AWS endpoint
(moto: Step Functions and EventBridge Scheduler) through boto3."""
from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from conf import ConfigError
from emr import cli, schedule
from emr.clients import client
from emr.layout import S3Layout
from tests.emr.conftest import ACCOUNT, SECURE, emr_config

S3 = S3Layout("artifacts", "fraud-platform", "0123456789ab", "digest")
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:fraud-runs"
EMR = botocore.session.get_session().get_service_model("emr")


def config(endpoint: str = "http://127.0.0.1:1", *extra: str):
    return emr_config(endpoint, f"schedule.sns_topic_arn={TOPIC}", *extra)


def _valid(operation: str, body: dict) -> None:
    report = ParamValidator().validate(body, EMR.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("name, job", [("daily", "daily"), ("retrain", "retrain")])
def test_each_run_creates_a_cluster_runs_its_step_with_retries_and_terminates_the_cluster(name, job):
    steps, _ = schedule.SCHEDULES[name]
    machine = schedule.definition(config(), S3, "emr.yaml", steps, name)
    states = machine["States"]
    _valid("RunJobFlow", states["Create cluster"]["Parameters"])
    step = states[f"Run {job}"]
    _valid("AddJobFlowSteps", {"JobFlowId": "j-1", "Steps": [step["Parameters"]["Step"]]})
    args = step["Parameters"]["Step"]["HadoopJarStep"]["Args"]
    assert args[0] == "spark-submit" and any(a.endswith(f"entrypoints/{job}.py") for a in args)
    assert ("--if-due" in args) is (job == "retrain")
    assert step["Retry"][0]["MaxAttempts"] == 1 and step["Catch"][0]["Next"] == schedule.NOTIFY
    assert step["Next"] == "Terminate cluster" and states["Terminate cluster"]["End"]
    assert machine["TimeoutSeconds"] == 21_600
    # every transition leads to a state that exists; the failure path notifies, terminates and fails
    targets = {t for s in states.values() for t in [s.get("Next"), *[c["Next"] for c in s.get("Catch", [])]] if t}
    assert targets <= set(states)
    assert states[schedule.NOTIFY]["Parameters"]["TopicArn"] == TOPIC
    assert states[schedule.NOTIFY]["Next"] == schedule.TERMINATE_AFTER_FAILURE
    assert states[schedule.TERMINATE_AFTER_FAILURE]["Next"] == states[schedule.TERMINATE_AFTER_FAILURE]["Catch"][0][
        "Next"] == schedule.FAILED
    assert states[schedule.FAILED]["Type"] == "Fail"


def test_a_schedule_without_a_failure_topic_is_refused():
    with pytest.raises(ConfigError, match="schedule.sns_topic_arn"):
        schedule.requests(emr_config("http://127.0.0.1:1"), S3, "emr.yaml")


def test_the_schedules_are_created_then_updated_on_the_local_endpoint(aws_endpoint):
    settings = config(aws_endpoint, "schedule.prefix=fraud-test")
    sfn, scheduler = client("stepfunctions", settings.aws), client("scheduler", settings.aws)
    emr = client("emr", settings.aws)
    first = schedule.apply(schedule.requests(settings, S3, "emr.yaml"), emr, sfn, scheduler)
    later = config(aws_endpoint, "schedule.prefix=fraud-test", "schedule.daily_cron=cron(0 3 * * ? *)")
    second = schedule.apply(schedule.requests(later, S3, "emr.yaml"), emr, sfn, scheduler)
    assert first == second and set(first) == {"daily", "retrain"}
    machines = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert sorted(m for m in machines if m.startswith("fraud-test-")) == ["fraud-test-daily", "fraud-test-retrain"]
    daily = scheduler.get_schedule(Name="fraud-test-daily")
    assert daily["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert daily["Target"]["Arn"] == first["daily"]["state_machine"]
    assert daily["Target"]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/fraud-scheduler"
    retrain = scheduler.get_schedule(Name="fraud-test-retrain")
    assert retrain["ScheduleExpression"] == "cron(0 4 ? * SUN *)"
    described = json.loads(sfn.describe_state_machine(stateMachineArn=first["retrain"]["state_machine"])["definition"])
    assert "Run retrain" in described["States"]
    wanted = schedule.requests(settings, S3, "emr.yaml")["security_configuration"]["Name"]
    assert described["States"]["Create cluster"]["Parameters"]["SecurityConfiguration"] == wanted
    assert emr.describe_security_configuration(Name=wanted)["Name"] == wanted


def test_with_runtime_roles_each_scheduled_step_runs_as_its_own_role():
    machine = schedule.definition(config("http://127.0.0.1:1", "emr.runtime_roles=true"), S3, "emr.yaml",
                                  schedule.SCHEDULES["retrain"][0], "retrain")
    role = machine["States"]["Run retrain"]["Parameters"]["ExecutionRoleArn"]
    assert role == f"arn:aws:iam::{ACCOUNT}:role/fraud-emr-ec2-retrain"


def test_the_dry_run_prints_the_requests_and_calls_nothing(capsys):
    settings = [a for s in (*SECURE, "aws.endpoint_url=http://127.0.0.1:1", f"schedule.sns_topic_arn={TOPIC}")
                for a in ("--set", s)]
    code = cli.main(["schedule", "--dry-run", "--build-dir", "/nonexistent", *settings])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0 and set(printed) == {"security_configuration", "daily", "retrain"}
    assert printed["daily"]["schedule"]["ScheduleExpression"] == "cron(30 2 * * ? *)"
