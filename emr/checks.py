"""What a config value must look like before it reaches an IAM policy or the EMR security configuration.

A policy is text: a `*` given as a database name, `s3://*/raw`, or a bucket's root given as a prefix would widen
every grant built from it without any error. So each value is matched against the whole of its AWS naming rule
(no wildcard, `?` or `${...}` can pass one), an S3 location must name a prefix below its bucket, and an ARN must
be of the service and resource type its key names, in the configured partition, region and account. Each failure
is a `ConfigError` that names the key, the value and the rule.
"""
from __future__ import annotations

import re

from conf import ConfigError

ACCOUNT = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}")
# S3 bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots and hyphens
BUCKET = re.compile(r"(?!xn--)(?!sthree-)(?!.*\.\.)(?!.*-s3alias$)(?!.*--ol-s3$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# one folder of a prefix: S3's "safe" characters less `*`; `=` for the tx_date=YYYY-MM-DD partition folders
KEY_PART = re.compile(r"[A-Za-z0-9!_.'()=+-]+")
GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")  # Glue lowercases names; Athena reads only these
ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
SECURITY_CONFIGURATION = re.compile(r"[A-Za-z0-9_-]{1,200}")  # the name gets a digest suffix (emr.security)
KMS_KEY_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")
# the resource part of each ARN a key may hold, after arn:<partition>:<service>:<region>:<account>:
ARN_RESOURCES = {
    "kms": re.compile(rf"key/({KMS_KEY_ID.pattern})"),
    "sns": re.compile(r"[A-Za-z0-9_-]{1,256}(\.fifo)?"),
    "sagemaker": re.compile(r"mlflow-tracking-server/[A-Za-z0-9](-*[A-Za-z0-9]){0,255}"),
    "secretsmanager": re.compile(r"secret:[A-Za-z0-9/_+=.@-]{1,512}"),
}
WIDENING = "a wildcard, pattern or empty part would widen the IAM policies built from it"


def _fail(key: str, value: object, rule: str) -> ConfigError:
    if value is None:
        return ConfigError(f"{key}: not set; it must be {rule}")
    return ConfigError(f"{key}: {value!r} is not {rule}; {WIDENING}")


def account_id(key: str, value: str | None) -> str:
    if not isinstance(value, str) or not ACCOUNT.fullmatch(value):
        raise _fail(key, value, "a 12-digit AWS account id")
    return value


def region(key: str, value: str | None) -> str:
    if not isinstance(value, str) or not REGION.fullmatch(value):
        raise _fail(key, value, "an AWS region such as eu-west-1")
    return value


def bucket(key: str, value: str | None) -> str:
    if not isinstance(value, str) or not BUCKET.fullmatch(value):
        raise _fail(key, value, "an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
    return value


def prefix(key: str, value: str, allow_root: bool = False) -> str:
    """A key prefix inside a bucket: folders of safe characters, without `.`/`..`; '' only with `allow_root`."""
    parts = [p for p in value.strip("/").split("/")] if value.strip("/") else []
    if not parts and not allow_root:
        raise _fail(key, value, "a folder below the bucket's root (a whole bucket is never granted)")
    for part in parts:
        if part in (".", "..") or not KEY_PART.fullmatch(part):
            raise _fail(key, value, "an S3 prefix of folders made of letters, digits and !_.'()=+-")
    return "/".join(parts)


def s3_location(key: str, uri: str | None) -> tuple[str, str]:
    """(bucket, prefix) of an s3:// (or s3a://) URI that names a folder below a bucket's root."""
    if not isinstance(uri, str):
        raise _fail(key, uri, "an s3:// location")
    for scheme in ("s3://", "s3a://"):
        if uri.startswith(scheme):
            name, _, rest = uri[len(scheme):].partition("/")
            return bucket(key, name), prefix(key, rest)
    raise _fail(key, uri, "an s3:// location")


def glue_name(key: str, value: str | None) -> str:
    if not isinstance(value, str) or not GLUE_NAME.fullmatch(value):
        raise _fail(key, value, "a Glue database name (lowercase letters, digits, _)")
    return value


def role_name(key: str, value: str | None) -> str:
    if not isinstance(value, str) or not ROLE_NAME.fullmatch(value):
        raise _fail(key, value, "an IAM role name (letters, digits and +=,.@_-, at most 64)")
    return value


def security_configuration_name(key: str, value: str | None) -> str:
    if not isinstance(value, str) or not SECURITY_CONFIGURATION.fullmatch(value):
        raise _fail(key, value, "a security configuration name (letters, digits, _ and -)")
    return value


def arn(key: str, value: str | None, service: str, partition: str, region_: str, account: str) -> str:
    """An ARN of `service` whose resource matches that service's rule, in this partition, region and account."""
    match = re.fullmatch(r"arn:([a-z-]+):([a-z-]+):([a-z0-9-]*):(\d{12}):(.+)", value or "")
    rule = f"an ARN arn:{partition}:{service}:{region_}:{account}:<{service} resource>"
    if not match or not ARN_RESOURCES[service].fullmatch(match.group(5)):
        raise _fail(key, value, rule)
    if match.group(1, 2, 3, 4) != (partition, service, region_, account):
        raise ConfigError(f"{key}: {value!r} is not {rule}: the policies grant only this account's resources in "
                          "the configured region (aws.region, emr.account_id)")
    return value


def kms_key_arn(key: str, value: str, partition: str, region_: str, account: str) -> str:
    """A KMS key's ARN from a key ARN or a bare key id; an alias cannot be granted."""
    if value.startswith("alias/") or ":alias/" in value:
        raise ConfigError(f"{key}: give the key's ARN or id; IAM cannot grant through an alias ({value!r})")
    if KMS_KEY_ID.fullmatch(value):
        value = f"arn:{partition}:kms:{region_}:{account}:key/{value}"
    return arn(key, value, "kms", partition, region_, account)
