"""Where things live: the local build folder (`fraud emr build`) and its copy on S3 (`fraud emr deploy`).

    dist/emr/                                   s3://<bucket>/<prefix>/<version>/
      manifest.json                               manifest.json    version (git commit), files, sha256s
      pyfiles/fraud_platform.zip                  pyfiles/...      the project's packages, for --py-files
      entrypoints/<job file>.py                   entrypoints/...  the spark-submit main files, one per step
      conf/<config>.yaml                          conf/...         the config the steps run with (--files)
      bootstrap/install-python.sh                 bootstrap/...    the cluster's bootstrap action
      environment.tar.gz                        s3://<bucket>/<prefix>/environments/<digest>/environment.tar.gz

The packed venv depends only on the pinned requirements, so it is stored once per requirements digest rather
than once per commit (it is hundreds of MB).
"""
from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

MANIFEST = "manifest.json"
PYFILES = "pyfiles/fraud_platform.zip"
ENVIRONMENT = "environment.tar.gz"
ENTRYPOINTS = "entrypoints"
CONF = "conf"
BOOTSTRAP = "bootstrap/install-python.sh"
# the folder the packed venv is unpacked into in every YARN container (spark.archives=...#environment)
ENV_ALIAS = "environment"


@dataclasses.dataclass(frozen=True)
class S3Layout:
    bucket: str
    prefix: str
    version: str  # the git commit the artifacts were built from
    env_digest: str  # sha256 of the pinned requirements the venv was packed from

    def key(self, relative: str) -> str:
        return str(PurePosixPath(self.prefix.strip("/"), self.version, relative))

    def env_key(self) -> str:
        return str(PurePosixPath(self.prefix.strip("/"), "environments", self.env_digest, ENVIRONMENT))

    def uri(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"

    def env_uri(self) -> str:
        return f"s3://{self.bucket}/{self.env_key()}"

    def root(self) -> str:
        return self.uri("")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/prefix") of s3://bucket/key/prefix; ValueError for anything else."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} has no bucket")
    return bucket, key
