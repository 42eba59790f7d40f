"""The EMR security configuration of the pipeline's clusters, built from the config (`emr.*`) and created by
`fraud emr run` before the cluster that names it (`SecurityConfiguration` of `run_job_flow`):

- at rest: EMRFS writes to S3 with SSE-KMS under `emr.kms_key_id` (SSE-S3 without a key); local disks (HDFS,
  which holds the GBT checkpoints, YARN's shuffle and spill files) and EBS volumes are encrypted with
  `emr.local_disk_kms_key_id` (default: `emr.kms_key_id`), so a key is required;
- in transit: TLS between the nodes (Spark RPC and shuffle, YARN, HDFS data transfer), with the certificates of
  `emr.tls_certificates`: a zip of PEM files, or a custom provider's jar and class (docs/emr-operations.md says
  how to make them);
- the nodes' instance metadata service answers only IMDSv2 (token) requests, one network hop away, so a process
  in a container cannot read the instance role's credentials with a forged plain GET;
- with `emr.runtime_roles`, steps run under their own IAM role (`ExecutionRoleArn`), not the instance profile's.

A security configuration cannot be changed once made, so its name is `emr.security_configuration` plus a digest
of its content: a changed config makes a new one, and an existing one of that name is reused after a check that
it holds exactly this content.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from conf import Config, ConfigError
from emr import checks

IMDS_HOP_LIMIT = 1  # a token request from a container's network namespace (one more hop) gets no answer


class SecurityConfigurationError(RuntimeError):
    """A security configuration of the expected name exists with other content."""


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def key_arns(config: Config) -> tuple[str, str]:
    """(the S3 data key's ARN, the local disks' key's ARN), both validated."""
    emr = config.emr
    region = checks.region("aws.region", config.aws.region)
    account = checks.account_id("emr.account_id", emr.account_id)
    partition = _partition(region)
    if not emr.kms_key_id:
        raise ConfigError("emr.kms_key_id is not set: the security configuration encrypts S3 objects, local disks "
                          "and EBS volumes with a KMS key (give its ARN or id)")
    data = checks.kms_key_arn("emr.kms_key_id", emr.kms_key_id, partition, region, account)
    disks = emr.local_disk_kms_key_id or emr.kms_key_id
    return data, checks.kms_key_arn("emr.local_disk_kms_key_id", disks, partition, region, account)


def certificates(config: Config) -> dict[str, Any]:
    """The TLSCertificateConfiguration: PEM files in a zip, or a custom provider's jar and class."""
    emr = config.emr
    if not emr.tls_certificates:
        raise ConfigError("emr.tls_certificates is not set: in-transit TLS needs an s3:// zip of PEM files "
                          "(privateKey.pem, certificateChain.pem, trustedCertificates.pem) or a provider jar; see "
                          "docs/emr-operations.md, 'Certificates'")
    checks.s3_location("emr.tls_certificates", emr.tls_certificates)
    if emr.tls_certificate_provider_class:
        return {"CertificateProviderType": "Custom", "S3Object": emr.tls_certificates,
                "CertificateProviderClass": emr.tls_certificate_provider_class}
    return {"CertificateProviderType": "PEM", "S3Object": emr.tls_certificates}


def document(config: Config) -> dict[str, Any]:
    """The security configuration's JSON document."""
    data_key, disk_key = key_arns(config)
    body: dict[str, Any] = {
        "EncryptionConfiguration": {
            "EnableAtRestEncryption": True,
            "EnableInTransitEncryption": True,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": data_key},
                "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": disk_key,
                                                     "EnableEbsEncryption": True},
            },
            "InTransitEncryptionConfiguration": {"TLSCertificateConfiguration": certificates(config)},
        },
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": 2,
                                                 "HttpPutResponseHopLimit": IMDS_HOP_LIMIT},
    }
    if config.emr.runtime_roles:
        body["AuthorizationConfiguration"] = {"IAMConfiguration": {
            "EnableApplicationScopedIAMRole": True,
            "ApplicationScopedIAMRoleConfiguration": {"PropagateSourceIdentity": True}}}
    return body


def request(config: Config) -> dict[str, str]:
    """The create_security_configuration request: {"Name": <name>-<digest>, "SecurityConfiguration": JSON}."""
    base = checks.security_configuration_name("emr.security_configuration", config.emr.security_configuration)
    text = json.dumps(document(config), sort_keys=True, separators=(",", ":"))
    return {"Name": f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:12]}", "SecurityConfiguration": text}


def ensure(emr_client, wanted: dict[str, str]) -> bool:
    """Create the security configuration unless it exists with this content; True when it was created."""
    try:
        found = emr_client.describe_security_configuration(Name=wanted["Name"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("InvalidRequestException", "ResourceNotFoundException"):
            raise
        emr_client.create_security_configuration(**wanted)
        return True
    if json.loads(found["SecurityConfiguration"]) != json.loads(wanted["SecurityConfiguration"]):
        raise SecurityConfigurationError(f"security configuration {wanted['Name']} exists with other content: "
                                         "delete it or change emr.security_configuration")
    return False
