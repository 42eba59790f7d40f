"""The EMR security configuration: its document from the config, its name, its creation on a real local AWS
endpoint (moto in server mode) through boto3, and the cluster and steps that name it."""
from __future__ import annotations

import io
import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from conf import AwsConf, ConfigError, load_config
from emr import clients, cluster, security
from emr.layout import S3Layout
from emr.runner import EmrPipeline
from emr.security import SecurityConfigurationError
from tests.emr.conftest import ACCOUNT, ARTIFACTS, KMS_KEY, SECURE, StepStates, emr_config

S3 = S3Layout("artifacts", "fraud-platform", "0123456789ab", "digest")
DISK_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/abcd1234-12ab-34cd-56ef-1234567890ab"


def _config(*extra: str):
    return load_config("emr", ["aws.region=us-east-1", *SECURE, *extra])


def test_s3_local_disks_and_ebs_are_encrypted_at_rest_with_the_configured_keys():
    rest = security.document(_config(f"emr.local_disk_kms_key_id={DISK_KEY}"))["EncryptionConfiguration"]
    assert rest["EnableAtRestEncryption"] is True
    at_rest = rest["AtRestEncryptionConfiguration"]
    assert at_rest["S3EncryptionConfiguration"] == {"EncryptionMode": "SSE-KMS", "AwsKmsKey": KMS_KEY}
    assert at_rest["LocalDiskEncryptionConfiguration"] == {"EncryptionKeyProviderType": "AwsKms",
                                                           "AwsKmsKey": DISK_KEY, "EnableEbsEncryption": True}


def test_the_nodes_talk_tls_with_the_configured_certificates():
    pem = security.document(_config())["EncryptionConfiguration"]
    assert pem["EnableInTransitEncryption"] is True
    assert pem["InTransitEncryptionConfiguration"]["TLSCertificateConfiguration"] == {
        "CertificateProviderType": "PEM", "S3Object": f"s3://{ARTIFACTS}/tls/certificates.zip"}
    custom = security.certificates(_config(f"emr.tls_certificates=s3://{ARTIFACTS}/tls/provider.jar",
                                           "emr.tls_certificate_provider_class=com.acme.Certificates"))
    assert custom == {"CertificateProviderType": "Custom", "S3Object": f"s3://{ARTIFACTS}/tls/provider.jar",
                      "CertificateProviderClass": "com.acme.Certificates"}


def test_the_nodes_answer_only_imdsv2_one_hop_away():
    assert security.document(_config())["InstanceMetadataServiceConfiguration"] == {
        "MinimumInstanceMetadataServiceVersion": 2, "HttpPutResponseHopLimit": 1}


@pytest.mark.parametrize("missing, key", [("emr.kms_key_id=null", "emr.kms_key_id"),
                                          ("emr.tls_certificates=null", "emr.tls_certificates"),
                                          ("emr.tls_certificates=s3://*/certs.zip", "emr.tls_certificates"),
                                          ("emr.kms_key_id=alias/fraud", "emr.kms_key_id")])
def test_a_cluster_without_its_keys_or_certificates_is_refused_naming_the_key(missing, key):
    with pytest.raises(ConfigError, match=f"^{key.replace('.', '[.]')}"):
        cluster.plan(_config(missing), S3, "emr.yaml")


def test_the_name_follows_the_content_and_the_plan_references_it():
    plan = cluster.plan(_config(), S3, "emr.yaml")
    request = plan["security_configuration"]
    model = botocore.session.get_session().get_service_model("emr")
    assert not ParamValidator().validate(request, model.operation_model("CreateSecurityConfiguration")
                                         .input_shape).has_errors()
    assert request["Name"].startswith("fraud-emr-") and plan["run_job_flow"]["SecurityConfiguration"] == request["Name"]
    assert plan["run_job_flow"]["LogEncryptionKmsKeyId"] == KMS_KEY
    assert cluster.run_job_flow_request(_config(), S3)["SecurityConfiguration"] == request["Name"]  # by default
    again = security.request(_config())
    other = security.request(_config(f"emr.local_disk_kms_key_id={DISK_KEY}"))
    assert again == request and other["Name"] != request["Name"]  # immutable on EMR: new content, new name


def test_runtime_roles_need_the_security_configuration_and_name_each_steps_role():
    plan = cluster.plan(_config("emr.runtime_roles=true"), S3, "emr.yaml")
    document = json.loads(plan["security_configuration"]["SecurityConfiguration"])
    assert document["AuthorizationConfiguration"]["IAMConfiguration"]["EnableApplicationScopedIAMRole"] is True
    assert plan["step_roles"][0] == f"arn:aws:iam::{ACCOUNT}:role/fraud-emr-ec2-build-features"
    assert len(plan["step_roles"]) == len(plan["steps"])
    assert cluster.plan(_config(), S3, "emr.yaml")["step_roles"] is None


@pytest.fixture(scope="module")
def emr_client(aws_endpoint):
    return clients.client("emr", AwsConf("us-east-1", aws_endpoint))


def test_ensure_creates_the_configuration_once_and_refuses_a_name_taken_by_other_content(emr_client):
    wanted = security.request(_config("emr.security_configuration=ensure-test"))
    assert security.ensure(emr_client, wanted) is True
    found = emr_client.describe_security_configuration(Name=wanted["Name"])
    assert json.loads(found["SecurityConfiguration"]) == json.loads(wanted["SecurityConfiguration"])
    assert security.ensure(emr_client, wanted) is False
    with pytest.raises(SecurityConfigurationError, match="exists with other content"):
        security.ensure(emr_client, {**wanted, "SecurityConfiguration": json.dumps({"EncryptionConfiguration": {}})})


def test_run_creates_the_security_configuration_and_the_cluster_names_it(aws_endpoint, emr_client):
    s3 = clients.client("s3", AwsConf("us-east-1", aws_endpoint))
    if ARTIFACTS not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=ARTIFACTS)
    out = io.StringIO()
    config = emr_config(aws_endpoint, "emr.steps=[train]", "emr.security_configuration=run-test")
    pipeline = EmrPipeline(config, s3=s3, emr=emr_client, out=out)
    with StepStates(["COMPLETED"]):
        assert pipeline.run(pipeline.layout({"version": "v", "env_digest": "d"}), "emr.yaml") == 0
    name = security.request(config)["Name"]
    assert f"security configuration {name}: created" in out.getvalue()
    assert emr_client.describe_security_configuration(Name=name)["Name"] == name
    cluster_id = out.getvalue().split("created cluster ")[1].split()[0]
    assert emr_client.describe_cluster(ClusterId=cluster_id)["Cluster"]["SecurityConfiguration"] == name


def test_with_runtime_roles_each_step_is_added_with_its_own_role(aws_endpoint, emr_client):
    config = emr_config(aws_endpoint, "emr.steps=[train, score]", "emr.runtime_roles=true",
                        "emr.security_configuration=roles-test")
    sent = []  # what boto3 sends (moto does not keep a step's ExecutionRoleArn)
    client = clients.client("emr", AwsConf("us-east-1", aws_endpoint))
    client.meta.events.register("provide-client-params.emr.AddJobFlowSteps",
                                lambda params, **_: sent.append((params["Steps"][0]["Name"],
                                                                 params.get("ExecutionRoleArn"))))
    pipeline = EmrPipeline(config, emr=client, out=io.StringIO())
    run = pipeline.submit(pipeline.layout({"version": "v", "env_digest": "d"}), "emr.yaml")
    assert run.step_names == ("fraud train", "fraud score") and len(set(run.step_ids)) == 2
    assert sent == [("fraud train", f"arn:aws:iam::{ACCOUNT}:role/fraud-emr-ec2-train"),
                    ("fraud score", f"arn:aws:iam::{ACCOUNT}:role/fraud-emr-ec2-score")]
    document = json.loads(emr_client.describe_security_configuration(
        Name=security.request(config)["Name"])["SecurityConfiguration"])
    assert "AuthorizationConfiguration" in document
    emr_client.terminate_job_flows(JobFlowIds=[run.cluster_id])
