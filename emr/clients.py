"""boto3 clients from the config's `aws` section: the one place the code builds them (jobs pass them on)."""
from __future__ import annotations

import boto3

from conf import AwsConf


def client(service: str, aws: AwsConf):
    return boto3.session.Session().client(service, region_name=aws.region, endpoint_url=aws.endpoint_url)
