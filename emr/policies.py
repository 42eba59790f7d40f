"""The IAM documents of the pipeline's roles, filled from the config (`fraud emr iam`).

The templates are `emr/iam/*.json` with `${name}` placeholders. A placeholder that is a whole string and whose
value is a list becomes that list (e.g. every table prefix); a statement whose placeholder has no value (no SNS
topic, no MLflow server, nothing to read) is left out, so nothing is granted for what a role does not use.

Every value is validated before it reaches a document (`emr.checks`: no wildcard, no bucket root, a 12-digit
account, ARNs by pattern). Grants follow what the steps call (`STEP_ACCESS`): the instance profile gets the union
of the configured steps', or, with `emr.runtime_roles`, only what the nodes need (artifacts, logs, local-disk
key) while each step gets a role of its own. S3 grants hold only for buckets of the project's account
(`s3:ResourceAccount`), the data key only through S3 (`kms:ViaService`), and a write without the project's
server-side encryption is denied. The tests lint every document with parliament (`emr/iam/accepted-findings.json`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conf import MLFLOW_SERVER_ARN, Config, ConfigError
from emr import checks, security

TEMPLATES = Path(__file__).resolve().parent / "iam"
PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
EMR_MANAGED_POLICY = "arn:{partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
# what each step reads and writes on S3 (areas below), whether it changes the Glue catalog, which SNS topic it
# publishes to and how it uses MLflow; taken from the jobs' arguments in emr/cluster.py and their code
STEP_ACCESS: dict[str, dict[str, Any]] = {
    "generate": {"write": ("raw",)},
    "ingest": {"write": ("raw",), "catalog": "write"},  # its --input, wherever it is, is not granted
    "build_features": {"read": ("raw",), "write": ("features",), "catalog": "write"},
    "train": {"read": ("features",), "write": ("training", "mlflow"), "catalog": "read", "mlflow": "write"},
    "score": {"read": ("features", "mlflow"), "write": ("publish",), "catalog": "write", "mlflow": "read",
              "sns": "scoring"},
    "monitor": {"read": ("mlflow",), "write": ("publish",), "catalog": "write", "mlflow": "read",
                "sns": "monitoring"},
    "maintain": {"write": ("features", "publish", "warehouse"), "catalog": "write"},
    "publish": {"read": ("raw", "features", "publish"), "catalog": "write"},
    # fraud daily: build_features, score, monitor, maintain and publish of one day (a retrain inside it,
    # retrain.with_daily, would need train's grants too: on EMR the weekly `retrain` step does it)
    "daily": {"read": ("raw", "features", "mlflow"), "write": ("features", "publish", "warehouse"),
              "catalog": "write", "mlflow": "read", "sns": ("scoring", "monitoring")},
    "retrain": {"read": ("features",), "write": ("training", "mlflow"), "catalog": "read", "mlflow": "write"},
}
# the sagemaker-mlflow actions MLflow's client calls: reading runs and the registry, and training's writes
MLFLOW_READ = ("GetExperiment", "GetExperimentByName", "SearchExperiments", "GetRun", "SearchRuns",
               "GetMetricHistory", "ListArtifacts", "GetRegisteredModel", "SearchRegisteredModels",
               "GetModelVersion", "GetModelVersionByAlias", "GetLatestModelVersions", "SearchModelVersions",
               "GetDownloadURIForModelVersionArtifacts")
MLFLOW_WRITE = ("CreateExperiment", "CreateRun", "UpdateRun", "LogMetric", "LogParam", "LogBatch", "LogInputs",
                "LogModel", "SetTag", "SetExperimentTag", "CreateRegisteredModel", "CreateModelVersion",
                "UpdateModelVersion", "SetModelVersionTag", "SetRegisteredModelAlias")


class _Unset(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _object_arns(part: str, prefixes: list[tuple[str, str]]) -> list[str]:
    return sorted({f"arn:{part}:s3:::{bucket}/{key}/*" for bucket, key in prefixes})


def step_role_name(config: Config, step: str) -> str:
    return checks.role_name("emr.instance_profile", f"{config.emr.instance_profile}-{step.replace('_', '-')}")


def step_role_arn(config: Config, step: str) -> str:
    account = checks.account_id("emr.account_id", config.emr.account_id)
    return f"arn:{partition(checks.region('aws.region', config.aws.region))}:iam::{account}:role/" \
           f"{step_role_name(config, step)}"


def mlflow_server_arn(config: Config) -> str | None:
    """The SageMaker MLflow server the jobs track to: emr.mlflow_tracking_server_arn, else the tracking URI."""
    given, uri = config.emr.mlflow_tracking_server_arn, config.tracking.tracking_uri
    from_uri = uri if MLFLOW_SERVER_ARN.fullmatch(uri) else None
    if given and from_uri and given != from_uri:
        raise ConfigError(f"emr.mlflow_tracking_server_arn: {given!r} differs from tracking.tracking_uri {from_uri}")
    return given or from_uri


def areas(config: Config) -> dict[str, tuple[str, str]]:
    """The S3 (bucket, prefix) of each data area the steps read or write, validated."""
    paths = config.paths
    found = {"raw": ("paths.raw", paths.raw), "features": ("paths.features", paths.features),
             "training": ("paths.training", paths.training), "publish": ("paths.publish", paths.publish)}
    if config.catalog.kind:
        found["warehouse"] = ("catalog.warehouse", config.catalog.warehouse)
    if config.tracking.artifact_root:
        found["mlflow"] = ("tracking.artifact_root", config.tracking.artifact_root)
    if not all(uri.startswith(("s3://", "s3a://")) for _, uri in found.values()):
        raise ConfigError("paths.* (and catalog.warehouse, tracking.artifact_root) must be s3:// locations to be "
                          "granted (use --config emr)")
    return {name: checks.s3_location(key, uri) for name, (key, uri) in found.items()}


def _common(config: Config) -> dict[str, Any]:
    """The values every role's documents share, each validated."""
    emr = config.emr
    region = checks.region("aws.region", config.aws.region)
    account = checks.account_id("emr.account_id", emr.account_id)
    part = partition(region)
    data_key, disk_key = security.key_arns(config)
    artifacts = [(checks.bucket("emr.bucket", emr.bucket), checks.prefix("emr.prefix", emr.prefix))]
    certificates = [checks.s3_location("emr.tls_certificates", emr.tls_certificates)] if emr.tls_certificates else []
    topics = {"scoring_topic_arn": ("scoring.sns_topic_arn", config.scoring.sns_topic_arn),
              "monitoring_topic_arn": ("monitoring.sns_topic_arn", config.monitoring.sns_topic_arn)}
    server = mlflow_server_arn(config)
    secret = config.tracking.credentials_secret
    if emr.athena_output:  # granted to no cluster role, but the analysts' policies are written from it
        checks.s3_location("emr.athena_output", emr.athena_output)
    return {
        "partition": part, "region": region, "account_id": account,
        "database": checks.glue_name("emr.glue_database", emr.glue_database),
        "instance_role_arn": f"arn:{part}:iam::{account}:role/"
                             f"{checks.role_name('emr.instance_profile', emr.instance_profile)}",
        "areas": areas(config), "artifacts": artifacts, "certificates": certificates,
        "logs": [checks.s3_location("emr.log_uri", emr.log_uri)] if emr.log_uri else [],
        "kms_key_arn": data_key, "disk_key_arn": disk_key, "sse_algorithm": "aws:kms",
        **{name: checks.arn(key, value, "sns", part, region, account) if value else None
           for name, (key, value) in topics.items()},
        "mlflow_server": checks.arn("emr.mlflow_tracking_server_arn", server, "sagemaker", part, region, account)
        if server else None,
        "mlflow_secret_arn": checks.arn("tracking.credentials_secret", secret, "secretsmanager", part, region, account)
        if secret else None,
    }


def role_values(common: dict[str, Any], steps: tuple[str, ...], nodes: bool, step_roles: list[str] | None = None
                ) -> dict[str, Any]:
    """The placeholders' values of one role: the grants of `steps`, and with `nodes` what the nodes themselves
    need (logs, the local-disk key, assuming the step roles)."""
    access = [STEP_ACCESS[s] for s in steps]
    have = common["areas"]
    read = {a for s in access for a in s.get("read", ()) if a in have}
    write = {a for s in access for a in s.get("write", ()) if a in have}
    read -= write
    part, account, region, database = (common[k] for k in ("partition", "account_id", "region", "database"))
    listed = [have[a] for a in read | write] + common["artifacts"] + (common["logs"] if nodes else [])
    catalog = {s.get("catalog") for s in access}
    glue = [f"arn:{part}:glue:{region}:{account}:catalog", f"arn:{part}:glue:{region}:{account}:database/{database}",
            f"arn:{part}:glue:{region}:{account}:table/{database}/*"]
    mlflow = {s.get("mlflow") for s in access} - {None}
    mlflow_actions = [*MLFLOW_READ, *(MLFLOW_WRITE if "write" in mlflow else ())] if mlflow else []
    return {
        **{k: common[k] for k in ("partition", "region", "account_id", "sse_algorithm", "kms_key_arn")},
        "bucket_arns": sorted({f"arn:{part}:s3:::{bucket}" for bucket, _ in listed}),
        "list_prefixes": sorted({p for _, key in listed for p in (key, f"{key}/*")}),
        "read_object_arns": _object_arns(part, [have[a] for a in read]),
        "write_object_arns": _object_arns(part, [have[a] for a in write]),
        # the TLS certificates are fetched by the nodes when they start, not by the steps
        "artifact_object_arns": sorted(_object_arns(part, common["artifacts"])
                                       + [f"arn:{part}:s3:::{b}/{k}" for b, k in common["certificates"] if nodes]),
        "log_object_arns": _object_arns(part, common["logs"]) if nodes else [],
        "glue_read_arns": glue if catalog - {None} else None,
        "glue_write_arns": glue if "write" in catalog else None,
        "disk_key_arn": common["disk_key_arn"] if nodes else None,
        "scoring_topic_arn": common["scoring_topic_arn"] if any(_publishes(s, "scoring") for s in access) else None,
        "monitoring_topic_arn": common["monitoring_topic_arn"]
        if any(_publishes(s, "monitoring") for s in access) else None,
        "mlflow_tracking_server_arn": common["mlflow_server"] if mlflow else None,
        "mlflow_actions": [f"sagemaker-mlflow:{a}" for a in mlflow_actions],
        "mlflow_secret_arn": common["mlflow_secret_arn"] if mlflow else None,
        "step_role_arns": step_roles or None,
    }


def _publishes(access: dict[str, Any], topic: str) -> bool:
    found = access.get("sns", ())
    return topic in (found if isinstance(found, tuple) else (found,))


def schedule_documents(config: Config, common: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The roles of `fraud emr schedule` (emr/schedule.py): the state machines' and the scheduler's."""
    part, account, region = common["partition"], common["account_id"], common["region"]
    topic = checks.arn("schedule.sns_topic_arn", config.schedule.sns_topic_arn, "sns", part, region, account)
    project = config.emr.tags.get("project")
    if not project:
        raise ConfigError("emr.tags.project must be set: the state machines may only drive clusters with that tag")
    prefix = checks.role_name("schedule.prefix", config.schedule.prefix)
    given = {**common, "schedule_prefix": prefix, "project_tag": project, "schedule_topic_arn": topic,
             "service_role_arn": f"arn:{part}:iam::{account}:role/"
                                 f"{checks.role_name('emr.service_role', config.emr.service_role)}",
             "instance_role_arn": f"arn:{part}:iam::{account}:role/"
                                  f"{checks.role_name('emr.instance_profile', config.emr.instance_profile)}"}
    return {
        "state_machine": {"role_name": checks.role_name("schedule.state_machine_role",
                                                        config.schedule.state_machine_role),
                          "trust_policy": render("state-machine-trust", given),
                          "inline_policy": render("state-machine-policy", given)},
        "scheduler": {"role_name": checks.role_name("schedule.scheduler_role", config.schedule.scheduler_role),
                      "trust_policy": render("scheduler-trust", given),
                      "inline_policy": render("scheduler-policy", given)},
    }


def _fill(node: Any, given: dict[str, Any]) -> Any:
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            value = given.get(whole.group(1))
            if value is None or value == []:
                raise _Unset(whole.group(1))
            return value

        def one(match: re.Match) -> str:
            value = given.get(match.group(1))
            if value is None or isinstance(value, list):
                raise _Unset(match.group(1))
            return str(value)

        return PLACEHOLDER.sub(one, node)
    if isinstance(node, dict):
        return {key: _fill(value, given) for key, value in node.items()}
    if isinstance(node, list):
        filled = []
        for item in node:
            value = _fill(item, given)
            filled.extend(value if isinstance(value, list) and isinstance(item, str) else [value])
        return filled
    return node


def render(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """One template filled in; a statement with a placeholder that has no value is dropped."""
    document = json.loads((TEMPLATES / f"{name}.json").read_text())
    statements = []
    for statement in document["Statement"]:
        try:
            statements.append(_fill(statement, given))
        except _Unset:
            continue
    if not statements:
        raise ConfigError(f"IAM template {name}: no statement has its values")
    return {**document, "Statement": statements}


def documents(config: Config) -> dict[str, dict[str, Any]]:
    """{"service_role": {...}, "instance_profile": {...}, "step_<name>": {...} with emr.runtime_roles}: each
    role's name, trust policy and permissions."""
    common = _common(config)
    scheduled = ("daily", "retrain") if config.schedule.sns_topic_arn else ()  # the schedules' steps (emr/schedule.py)
    steps = tuple(dict.fromkeys([*config.emr.steps, *scheduled]))
    unknown = [s for s in steps if s not in STEP_ACCESS]
    if unknown:
        raise ConfigError(f"emr.steps: unknown step {unknown[0]!r} (known: {', '.join(STEP_ACCESS)})")
    runtime = config.emr.runtime_roles
    roles = [step_role_arn(config, s) for s in steps] if runtime else None
    nodes = role_values(common, () if runtime else steps, nodes=True, step_roles=roles)
    docs = {
        "service_role": {
            "role_name": checks.role_name("emr.service_role", config.emr.service_role),
            "trust_policy": render("service-role-trust", common),
            "managed_policy_arns": [EMR_MANAGED_POLICY.format(partition=common["partition"])],
            "inline_policy": render("service-role-policy", {**common, **nodes}),
        },
        "instance_profile": {
            "role_name": config.emr.instance_profile,
            "instance_profile_name": config.emr.instance_profile,
            "trust_policy": render("instance-profile-trust", common),
            "inline_policy": render("instance-profile-policy", nodes),
        },
    }
    if config.schedule.sns_topic_arn:  # the schedules are configured: their two roles too
        docs.update(schedule_documents(config, common))
    for step in steps if runtime else ():
        docs[f"step_{step}"] = {"role_name": step_role_name(config, step),
                                "trust_policy": render("step-role-trust", common),
                                "inline_policy": render("instance-profile-policy",
                                                        role_values(common, (step,), nodes=False))}
    return docs
