"""The EMR API requests of a pipeline run, built from the config alone (no AWS call): the `run_job_flow` request
of a transient cluster, the `create_security_configuration` request it names (emr/security.py) and the
`add_job_flow_steps` steps (with each step's runtime role when `emr.runtime_roles`). `python -m emr plan` prints
exactly these.

Every step is `command-runner.jar spark-submit --deploy-mode cluster` with the project zip on `--py-files`,
the packed venv as `spark.archives=...#environment` (the interpreter of the application master and of the
executors), the config file on `--files`, and the job's entry point from S3. The cluster is sized from
`emr.*`: Spark's executors fill the core and task nodes, shuffle partitions follow the executor cores.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from conf import Config, ConfigError, EmrConf
from conf.redact import secret_overrides
from emr import layout, security
from emr.layout import S3Layout
from emr.package import entrypoint
from emr.policies import step_role_arn

PYTHON = f"./{layout.ENV_ALIAS}/bin/python"
ACTION_ON_FAILURE = "CANCEL_AND_WAIT"  # a failed step cancels the ones after it; the runner then ends the cluster


def executors(emr: EmrConf) -> int:
    return (emr.core_instance_count + emr.task_instance_count) * emr.executors_per_node


def shuffle_partitions(emr: EmrConf) -> int:
    return max(1, executors(emr) * emr.executor_cores * emr.shuffle_partitions_per_core)


def spark_defaults(emr: EmrConf) -> dict[str, str]:
    return {
        "spark.executor.cores": str(emr.executor_cores),
        "spark.executor.memory": emr.executor_memory,
        "spark.executor.instances": str(executors(emr)),
        "spark.dynamicAllocation.enabled": "false",  # the sizing above is the run's, not YARN's guess
        "spark.driver.cores": str(emr.driver_cores),
        "spark.driver.memory": emr.driver_memory,
    }


def encryption_args(emr: EmrConf) -> dict[str, str]:
    """ExtraArgs of a boto3 upload: SSE-KMS with the configured key, else SSE-S3."""
    if emr.kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": emr.kms_key_id}
    return {"ServerSideEncryption": "AES256"}


def configurations(emr: EmrConf) -> list[dict[str, Any]]:
    # EMRFS's S3 encryption is the security configuration's (emr/security.py), not an emrfs-site setting
    return [
        {"Classification": "spark", "Properties": {"maximizeResourceAllocation": "false"}},
        {"Classification": "spark-defaults", "Properties": spark_defaults(emr)},
        # EMR's own Iceberg runtime on Spark's class path (the output tables; conf/emr.yaml catalog.kind glue)
        {"Classification": "iceberg-defaults", "Properties": {"iceberg.enabled": "true"}},
    ]


def _ebs(emr: EmrConf) -> dict[str, Any]:
    return {"EbsBlockDeviceConfigs": [{"VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": emr.ebs_volume_gib},
                                       "VolumesPerInstance": 1}]}


def instance_groups(emr: EmrConf) -> list[dict[str, Any]]:
    groups = [
        {"Name": "master", "InstanceRole": "MASTER", "Market": "ON_DEMAND",
         "InstanceType": emr.master_instance_type, "InstanceCount": 1, "EbsConfiguration": _ebs(emr)},
        {"Name": "core", "InstanceRole": "CORE", "Market": "ON_DEMAND",
         "InstanceType": emr.core_instance_types[0], "InstanceCount": emr.core_instance_count,
         "EbsConfiguration": _ebs(emr)},
    ]
    if emr.task_instance_count:
        groups.append({"Name": "task", "InstanceRole": "TASK", "Market": "SPOT" if emr.spot else "ON_DEMAND",
                       "InstanceType": emr.core_instance_types[0], "InstanceCount": emr.task_instance_count,
                       "EbsConfiguration": _ebs(emr)})
    return groups


def instance_fleets(emr: EmrConf) -> list[dict[str, Any]]:
    types = [{"InstanceType": t, "WeightedCapacity": 1, "EbsConfiguration": _ebs(emr)}
             for t in emr.core_instance_types]
    fleets = [
        {"Name": "master", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1,
         "InstanceTypeConfigs": [{"InstanceType": emr.master_instance_type, "EbsConfiguration": _ebs(emr)}]},
        {"Name": "core", "InstanceFleetType": "CORE", "TargetOnDemandCapacity": emr.core_instance_count,
         "InstanceTypeConfigs": types},
    ]
    if emr.task_instance_count:
        capacity = "TargetSpotCapacity" if emr.spot else "TargetOnDemandCapacity"
        fleet = {"Name": "task", "InstanceFleetType": "TASK", capacity: emr.task_instance_count,
                 "InstanceTypeConfigs": types}
        if emr.spot:
            fleet["LaunchSpecifications"] = {"SpotSpecification": {
                "TimeoutDurationMinutes": 20, "TimeoutAction": "SWITCH_TO_ON_DEMAND",
                "AllocationStrategy": "price-capacity-optimized"}}
        fleets.append(fleet)
    return fleets


def run_job_flow_request(config: Config, s3: S3Layout, security_configuration: str | None = None) -> dict[str, Any]:
    """The cluster request; it names `security_configuration` (default: the config's, emr.security.request),
    which must exist before the cluster is created (`fraud emr run` makes it)."""
    emr = config.emr
    security_configuration = security_configuration or security.request(config)["Name"]
    instances: dict[str, Any] = {"KeepJobFlowAliveWhenNoSteps": True, "TerminationProtected": False}
    if emr.instance_fleets:
        instances["InstanceFleets"] = instance_fleets(emr)
    else:
        instances["InstanceGroups"] = instance_groups(emr)
    if emr.subnet_id:
        instances["Ec2SubnetIds" if emr.instance_fleets else "Ec2SubnetId"] = (
            [emr.subnet_id] if emr.instance_fleets else emr.subnet_id)
    if emr.ec2_key_name:
        instances["Ec2KeyName"] = emr.ec2_key_name
    request = {
        "Name": emr.cluster_name,
        "ReleaseLabel": emr.release_label,
        "Applications": [{"Name": "Hadoop"}, {"Name": "Spark"}],
        "Instances": instances,
        "BootstrapActions": [{"Name": "python3.11 for the packed venv",
                              "ScriptBootstrapAction": {"Path": emr.bootstrap_script or s3.uri(layout.BOOTSTRAP),
                                                        "Args": []}}],
        "Configurations": configurations(emr),
        "ServiceRole": emr.service_role,
        "SecurityConfiguration": security_configuration,
        "JobFlowRole": emr.instance_profile,
        "AutoTerminationPolicy": {"IdleTimeout": emr.idle_timeout_seconds},
        "VisibleToAllUsers": True,
        "StepConcurrencyLevel": 1,
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(emr.tags.items())],
    }
    if emr.log_uri:
        request["LogUri"] = emr.log_uri
        request["LogEncryptionKmsKeyId"] = security.key_arns(config)[0]  # the logs hold rows of failed steps
    return request


def score_dates(config: Config) -> tuple[dt.date, dt.date]:
    """The dates the score step scores: emr.score_*_date, else the last scoring.pipeline_days simulated."""
    sim = config.simulator
    last = config.emr.score_end_date or sim.start_date + dt.timedelta(days=sim.days - 1)
    first = config.emr.score_start_date or last - dt.timedelta(days=config.scoring.pipeline_days - 1)
    return first, last


def job_args(step: str, config: Config) -> list[str]:
    paths = config.paths
    if step == "generate":  # refuses a non-empty raw table unless told (the demo profile: conf/emr-demo.yaml)
        return ["--output", paths.raw, *(["--overwrite"] if config.emr.generate_overwrite else [])]
    if step == "build_features":
        return ["--input", f"{paths.raw.rstrip('/')}/transactions", "--output", paths.features]
    if step == "train":
        return ["--features", paths.features, "--output", paths.training]
    if step == "score":
        first, last = score_dates(config)
        return ["--features", paths.features, "--output", paths.publish,
                "--start-date", first.isoformat(), "--end-date", last.isoformat()]
    if step == "monitor":
        first, last = score_dates(config)
        return ["--publish", paths.publish, "--date", first.isoformat(), "--end-date", last.isoformat()]
    if step == "publish":
        return ["--database", config.emr.glue_database]
    if step in ("maintain", "daily"):  # daily: the raw table's latest date, on the config's paths
        return []
    if step == "retrain":
        return ["--features", paths.features, "--output", paths.training]
    raise ValueError(f"unknown step {step!r} (known: generate, build_features, train, score, monitor, publish, "
                     "maintain, daily, retrain)")


def spark_submit_args(step: str, config: Config, s3: S3Layout, config_name: str,
                      overrides: tuple[str, ...] = ()) -> list[str]:
    """The step's command line. Step arguments are shown by the EMR console and API to anyone who may describe
    the cluster: an override that carries a credential is refused, not passed on."""
    carrying = secret_overrides(overrides)
    if carrying:
        raise ConfigError(f"--set {', '.join(carrying)}: a credential in a step's arguments is visible to anyone who "
                          "can describe the cluster; use tracking.credentials_secret or the nodes' environment")
    upload_args = json.dumps(encryption_args(config.emr), separators=(",", ":"))
    settings = [
        f"spark.archives={s3.env_uri()}#{layout.ENV_ALIAS}",
        f"spark.yarn.appMasterEnv.PYSPARK_PYTHON={PYTHON}",
        f"spark.executorEnv.PYSPARK_PYTHON={PYTHON}",
        # MLflow's S3 artifact uploads (train) get the same server-side encryption as everything else
        f"spark.yarn.appMasterEnv.MLFLOW_S3_UPLOAD_EXTRA_ARGS={upload_args}",
    ]
    args = ["spark-submit", "--deploy-mode", "cluster", "--master", "yarn", "--name", f"fraud-{step}"]
    for setting in settings:
        args += ["--conf", setting]
    args += ["--py-files", s3.uri(layout.PYFILES), "--files", s3.uri(f"{layout.CONF}/{config_name}"),
             s3.uri(entrypoint(step)), "--config", config_name, *job_args(step, config),
             "--set", f"spark.shuffle_partitions={shuffle_partitions(config.emr)}"]
    for item in overrides:
        args += ["--set", item]
    return args


def step_role_arns(config: Config) -> list[str] | None:
    """Each step's runtime role (emr.runtime_roles), in step order; None: the steps run as the instance profile."""
    if not config.emr.runtime_roles:
        return None
    return [step_role_arn(config, step) for step in config.emr.steps]


def steps(config: Config, s3: S3Layout, config_name: str, overrides: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The pipeline's steps in order, as add_job_flow_steps takes them."""
    return [{"Name": f"fraud {step}", "ActionOnFailure": ACTION_ON_FAILURE,
             "HadoopJarStep": {"Jar": "command-runner.jar",
                               "Args": spark_submit_args(step, config, s3, config_name, overrides)}}
            for step in config.emr.steps]


def plan(config: Config, s3: S3Layout, config_name: str, overrides: tuple[str, ...] = (),
         cluster_id: str | None = None) -> dict[str, Any]:
    """{"security_configuration": create request or None, "run_job_flow": request or None (existing cluster),
    "cluster_id": ..., "steps": [...], "step_roles": [role ARN of each step] or None}."""
    existing = cluster_id or config.emr.cluster_id
    secure = None if existing else security.request(config)
    return {"security_configuration": secure,
            "run_job_flow": None if existing else run_job_flow_request(config, s3, secure["Name"]),
            "cluster_id": existing,
            "steps": steps(config, s3, config_name, overrides),
            "step_roles": step_role_arns(config)}
