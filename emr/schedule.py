"""The nightly run on AWS: an EventBridge Scheduler schedule starts a Step Functions state machine that creates a
transient EMR cluster, runs the steps one by one, and terminates the cluster; a failed step is retried, then
reported on SNS, and the cluster is terminated all the same (`fraud emr schedule`, `--dry-run` prints the requests).

Two schedules, each with its state machine (`schedule.*` in the config):
- `fraud-daily`: the `daily` step (`fraud daily`, the raw table's latest date), every night;
- `fraud-retrain`: the `retrain` step with `--if-due`, every week.
A step is retried `schedule.step_retries` times (the jobs replace exactly the dates they write, so a retry is safe)
and a whole run is bounded by `schedule.timeout_seconds`. The state machines use Step Functions' `.sync`
integrations with EMR (the execution waits for each step), which need the managed EventBridge rules named in
emr/iam/state-machine-policy.json. Everything is built from the config alone; only `apply` calls AWS.
"""
from __future__ import annotations

import json
from typing import Any

from conf import Config, ConfigError
from emr import security
from emr.cluster import run_job_flow_request, spark_submit_args
from emr.layout import S3Layout
from emr.policies import step_role_arn

EMR_SYNC = "arn:aws:states:::elasticmapreduce:{}.sync"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
FAILED = "Run failed"
NOTIFY = "Notify failure"
TERMINATE_AFTER_FAILURE = "Terminate cluster after failure"
# the schedules: name -> (the steps with their extra arguments, the config key of their cron expression)
SCHEDULES = {"daily": ((("daily", ()),), "daily_cron"), "retrain": ((("retrain", ("--if-due",)),), "retrain_cron")}


def role_arn(config: Config, name: str) -> str:
    return f"arn:aws:iam::{config.emr.account_id}:role/{name}"


def _catch() -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": NOTIFY}]


def definition(config: Config, s3: S3Layout, config_name: str, steps: tuple, run_name: str) -> dict[str, Any]:
    """The Amazon States Language definition of one scheduled run of `steps` ((job, extra args) pairs)."""
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": config.schedule.retry_interval_seconds,
              "MaxAttempts": config.schedule.step_retries, "BackoffRate": 2.0}]
    cluster = {**run_job_flow_request(config, s3), "Name": f"{config.emr.cluster_name}-{run_name}"}
    names = [f"Run {job}" for job, _ in steps]
    states: dict[str, Any] = {
        "Create cluster": {
            "Type": "Task", "Resource": EMR_SYNC.format("createCluster"), "Parameters": cluster,
            "ResultSelector": {"ClusterId.$": "$.ClusterId"}, "ResultPath": "$.cluster",
            "Retry": [{**retry[0], "MaxAttempts": 1}], "Catch": _catch(), "Next": names[0]},
    }
    for index, (job, extra) in enumerate(steps):
        args = spark_submit_args(job, config, s3, config_name)
        parameters = {"ClusterId.$": "$.cluster.ClusterId", "Step": {
            "Name": f"fraud {job}", "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": [*args, *extra]}}}
        if config.emr.runtime_roles:  # the step's own role, as `fraud emr run` submits it
            parameters["ExecutionRoleArn"] = step_role_arn(config, job)
        states[names[index]] = {
            "Type": "Task", "Resource": EMR_SYNC.format("addStep"), "Parameters": parameters,
            "ResultPath": None, "Retry": retry, "Catch": _catch(),
            "Next": names[index + 1] if index + 1 < len(names) else "Terminate cluster"}
    states["Terminate cluster"] = {
        "Type": "Task", "Resource": EMR_SYNC.format("terminateCluster"),
        "Parameters": {"ClusterId.$": "$.cluster.ClusterId"}, "ResultPath": None, "End": True}
    states[NOTIFY] = {
        "Type": "Task", "Resource": SNS_PUBLISH, "ResultPath": None, "Next": TERMINATE_AFTER_FAILURE,
        "Parameters": {"TopicArn": config.schedule.sns_topic_arn, "Subject": f"Fraud {run_name} run failed",
                       "Message.$": "States.JsonToString($.error)"}}
    states[TERMINATE_AFTER_FAILURE] = {  # no cluster when its creation failed: go on to the failure all the same
        "Type": "Task", "Resource": EMR_SYNC.format("terminateCluster"),
        "Parameters": {"ClusterId.$": "$.cluster.ClusterId"}, "ResultPath": None, "Next": FAILED,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": FAILED}]}
    states[FAILED] = {"Type": "Fail", "Error": "FraudRunFailed",
                      "Cause": "a step failed after its retries: see the SNS message and the EMR step logs"}
    return {"Comment": f"fraud {run_name}: transient EMR cluster, {', '.join(j for j, _ in steps)}",
            "StartAt": "Create cluster", "TimeoutSeconds": config.schedule.timeout_seconds, "States": states}


def requests(config: Config, s3: S3Layout, config_name: str) -> dict[str, dict[str, Any]]:
    """{"security_configuration": the create request the clusters name (emr/security.py), and for each schedule
    name: {"state_machine": create_state_machine request, "schedule": create_schedule request}}; the schedule's
    target ARN is the state machine's, filled in by `apply` (a placeholder here)."""
    settings = config.schedule
    if not (settings.sns_topic_arn and config.emr.account_id):
        raise ConfigError("schedule.sns_topic_arn and emr.account_id must be set: a scheduled run reports its "
                          "failure on that topic, and the roles are named in that account")
    out: dict[str, dict[str, Any]] = {"security_configuration": security.request(config)}
    for name, (steps, cron_key) in SCHEDULES.items():
        machine = f"{settings.prefix}-{name}"
        out[name] = {
            "state_machine": {"name": machine, "type": "STANDARD",
                              "roleArn": role_arn(config, settings.state_machine_role),
                              "definition": json.dumps(definition(config, s3, config_name, steps, name), indent=1)},
            "schedule": {"Name": machine, "ScheduleExpression": getattr(settings, cron_key),
                         "ScheduleExpressionTimezone": settings.timezone, "State": "ENABLED",
                         "FlexibleTimeWindow": {"Mode": "OFF"},
                         "Target": {"Arn": f"<state machine {machine}>",
                                    "RoleArn": role_arn(config, settings.scheduler_role), "Input": "{}",
                                    "RetryPolicy": {"MaximumRetryAttempts": 2,
                                                    "MaximumEventAgeInSeconds": 3600}}},
        }
    return out


def apply(planned: dict[str, dict[str, Any]], emr, sfn, scheduler) -> dict[str, dict[str, str]]:
    """Create the security configuration unless it is there, then create or update each state machine and its
    schedule (a second run updates, never duplicates): {name: {"state_machine": arn, "schedule": arn}}."""
    security.ensure(emr, planned["security_configuration"])
    existing = {m["name"]: m["stateMachineArn"]
                for page in sfn.get_paginator("list_state_machines").paginate() for m in page["stateMachines"]}
    done = {}
    for name in SCHEDULES:
        request = planned[name]
        machine = request["state_machine"]
        if machine["name"] in existing:
            arn = existing[machine["name"]]
            sfn.update_state_machine(stateMachineArn=arn, definition=machine["definition"],
                                     roleArn=machine["roleArn"])
        else:
            arn = sfn.create_state_machine(**machine)["stateMachineArn"]
        schedule = {**request["schedule"], "Target": {**request["schedule"]["Target"], "Arn": arn}}
        try:
            scheduler.get_schedule(Name=schedule["Name"])
            schedule_arn = scheduler.update_schedule(**schedule)["ScheduleArn"]
        except scheduler.exceptions.ResourceNotFoundException:
            schedule_arn = scheduler.create_schedule(**schedule)["ScheduleArn"]
        done[name] = {"state_machine": arn, "schedule": schedule_arn}
    return done
