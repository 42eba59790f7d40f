"""The IAM documents of the two roles an EMR cluster needs, filled from the config (`fraud emr iam`).

The templates are `emr/iam/*.json` with `${name}` placeholders. A placeholder that is a whole string and whose
value is a list becomes that list (e.g. every table prefix); a statement whose optional placeholder has no value
(no KMS key, no SNS topic, no MLflow server) is left out, so nothing is granted for what the project does not
use. The service role also gets AWS's tag-scoped managed policy for EMR; everything the jobs touch is scoped
to the project's bucket prefixes, its Glue database, and its key, topic and MLflow server when configured.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conf import Config, ConfigError
from emr.layout import split_s3_uri

TEMPLATES = Path(__file__).resolve().parent / "iam"
PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
OPTIONAL = ("kms_key_arn", "sns_topic_arn", "mlflow_tracking_server_arn")
EMR_MANAGED_POLICY = "arn:{partition}:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"


class _Unset(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _prefixes(uris: list[str]) -> list[tuple[str, str]]:
    return sorted({(bucket, key.strip("/")) for bucket, key in map(split_s3_uri, uris)})


def _object_arns(part: str, prefixes: list[tuple[str, str]]) -> list[str]:
    return [f"arn:{part}:s3:::{bucket}/{key}/*" if key else f"arn:{part}:s3:::{bucket}/*" for bucket, key in prefixes]


def _kms_arn(config: Config, part: str) -> str | None:
    key = config.emr.kms_key_id
    if not key or key.startswith("arn:"):
        return key
    if key.startswith("alias/"):
        raise ConfigError("emr.kms_key_id: give the key's ARN or id; IAM cannot grant through an alias")
    return f"arn:{part}:kms:{config.aws.region}:{config.emr.account_id}:key/{key}"


def values(config: Config) -> dict[str, Any]:
    """Every placeholder's value: names, ARNs and the S3 prefixes the jobs read and write."""
    emr, paths = config.emr, config.paths
    if not (emr.account_id and config.aws.region and emr.bucket):
        raise ConfigError("emr.account_id, aws.region and emr.bucket must be set to fill the IAM documents")
    part = partition(config.aws.region)
    data = [paths.raw, paths.features, paths.training, paths.publish, emr.athena_output,
            config.tracking.artifact_root, config.catalog.warehouse if config.catalog.kind else None]
    data_prefixes = _prefixes([u for u in data if u and u.startswith("s3://")])
    if not data_prefixes:
        raise ConfigError("paths.* are not s3:// locations: nothing to grant (use --config emr)")
    artifacts = [(emr.bucket, emr.prefix.strip("/"))]
    logs = _prefixes([emr.log_uri]) if emr.log_uri else []
    every = data_prefixes + artifacts + logs
    return {
        "partition": part, "region": config.aws.region, "account_id": emr.account_id,
        "database": emr.glue_database,
        "instance_role_arn": f"arn:{part}:iam::{emr.account_id}:role/{emr.instance_profile}",
        "bucket_arns": sorted({f"arn:{part}:s3:::{bucket}" for bucket, _ in every}),
        "list_prefixes": sorted({p for _, key in every for p in ((key, f"{key}/*") if key else ("*",))}),
        "data_object_arns": _object_arns(part, data_prefixes),
        "artifact_object_arns": _object_arns(part, artifacts),
        "log_object_arns": _object_arns(part, logs),
        "kms_key_arn": _kms_arn(config, part),
        "sns_topic_arn": config.scoring.sns_topic_arn,
        "mlflow_tracking_server_arn": emr.mlflow_tracking_server_arn,
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
    """One template filled in; statements with an unset optional placeholder are dropped."""
    document = json.loads((TEMPLATES / f"{name}.json").read_text())
    statements = []
    for statement in document["Statement"]:
        try:
            statements.append(_fill(statement, given))
        except _Unset as unset:
            if unset.name not in OPTIONAL:
                raise ConfigError(f"IAM template {name}: no value for ${{{unset.name}}}") from None
    return {**document, "Statement": statements}


def documents(config: Config) -> dict[str, dict[str, Any]]:
    """{"service_role": {...}, "instance_profile": {...}}: each role's name, trust policy and permissions."""
    given = values(config)
    return {
        "service_role": {
            "role_name": config.emr.service_role,
            "trust_policy": render("service-role-trust", given),
            "managed_policy_arns": [EMR_MANAGED_POLICY.format(partition=given["partition"])],
            "inline_policy": render("service-role-policy", given),
        },
        "instance_profile": {
            "role_name": config.emr.instance_profile,
            "instance_profile_name": config.emr.instance_profile,
            "trust_policy": render("instance-profile-trust", given),
            "inline_policy": render("instance-profile-policy", given),
        },
    }
