"""JVM jars a run needs beyond pyspark's own: pinned Maven Central artifacts, fetched once into a local cache and
put on Spark's classpath with `spark.jars`.

Why not Spark's own `spark.jars.packages` (Ivy): it works here too, but it resolves the coordinates again at every
session start (about half a second when cached, 4 s more on a fresh machine, docs/experiments.md) and trusts
whatever the repository serves. Here each jar is pinned by version and SHA-256, downloaded over HTTPS only when the
cache lacks it, checked before it is moved into place, and then read from disk with no network at all. Only runs
that need a bundle fetch it: the default local run on local folders needs none, and on EMR the connectors are part
of the cluster (`spark.fetch_jars: false`).

    fraud jars [s3a ...]    # fetch ahead of time (e.g. in a machine image); prints the cached files
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
REPOSITORY_ENV = "FRAUD_MAVEN_REPOSITORY"  # a mirror of Maven Central, e.g. a company's proxy
CACHE_ENV = "FRAUD_JARS_CACHE"
CHUNK = 1 << 20


class JarFetchError(RuntimeError):
    """A pinned jar that could not be fetched or whose contents are not the pinned ones."""


@dataclass(frozen=True)
class Artifact:
    group: str
    name: str
    version: str
    sha256: str

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}.jar"

    def url(self, repository: str) -> str:
        return f"{repository.rstrip('/')}/{self.group.replace('.', '/')}/{self.name}/{self.version}/{self.file_name}"


BUNDLES: dict[str, tuple[Artifact, ...]] = {
    # the S3A connector at the Hadoop version pyspark 3.5.6 is built on (its hadoop-client jars are 3.3.4), with the
    # AWS SDK and the TLS library that hadoop-aws 3.3.4 declares (compile and runtime scope); its other
    # dependencies are `provided` by pyspark's hadoop-client jars
    "s3a": (
        Artifact("org.apache.hadoop", "hadoop-aws", "3.3.4",
                 "53f9ae03c681a30a50aa17524bd9790ab596b28481858e54efd989a826ed3a4a"),
        Artifact("com.amazonaws", "aws-java-sdk-bundle", "1.12.262",
                 "873fe7cf495126619997bec21c44de5d992544aea7e632fdc77adb1a0915bae5"),
        Artifact("org.wildfly.openssl", "wildfly-openssl", "1.0.7.Final",
                 "9f7058778978ec2ad90c7224401a4b0013d93e0dd3fa0f72b25244ffa3507ca8"),
    ),
    # Apache Iceberg's Spark 3.5 runtime (one shaded jar) and the SQLite driver of the embedded JDBC catalog. 1.10.1
    # is the latest patch of a line that writes format v2 by default, the version Athena reads; table files go
    # through Hadoop's file system (HadoopFileIO), so S3A serves an s3a:// warehouse with no AWS SDK of Iceberg's
    "iceberg": (
        Artifact("org.apache.iceberg", "iceberg-spark-runtime-3.5_2.12", "1.10.1",
                 "39ea09e6c03550a300b9d9ab498949836d2d434e441da4c12a943a086e396940"),
        Artifact("org.xerial", "sqlite-jdbc", "3.51.1.0",
                 "29eda0d1e5ab235b0f1baad05c531106c59c4a72c92a51a4b9c1a4e4c84abffe"),
    ),
}


def cache_dir() -> Path:
    """FRAUD_JARS_CACHE, else ~/.cache/fraud-platform/jars (XDG_CACHE_HOME when set)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fraud-platform" / "jars"


def _download(artifact: Artifact, target: Path, repository: str) -> None:
    url = artifact.url(repository)
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{artifact.file_name}.", delete=False) as out:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            os.unlink(out.name)
            raise JarFetchError(f"could not fetch {url}: {exc} (set {REPOSITORY_ENV} to a reachable mirror)") from None
    if digest.hexdigest() != artifact.sha256:
        os.unlink(out.name)
        raise JarFetchError(f"{url} has SHA-256 {digest.hexdigest()}, not the pinned {artifact.sha256}: not used")
    os.replace(out.name, target)  # whole or not at all: a killed download never leaves a file under the jar's name


def fetch(bundles: Iterable[str], cache: Path | None = None) -> list[Path]:
    """The local files of `bundles`' jars, downloaded into the cache first where missing."""
    cache = cache or cache_dir()
    repository = os.environ.get(REPOSITORY_ENV) or MAVEN_CENTRAL
    files = []
    for bundle in dict.fromkeys(bundles):
        if bundle not in BUNDLES:
            raise JarFetchError(f"unknown jar bundle {bundle!r} (known: {', '.join(sorted(BUNDLES))})")
        for artifact in BUNDLES[bundle]:
            target = cache / artifact.group / artifact.file_name
            if not target.exists():
                _download(artifact, target, repository)
            files.append(target)
    return files


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv) or sorted(BUNDLES)
    if any(n.startswith("-") for n in names):
        asked = any(n in ("-h", "--help") for n in names)
        print(f"usage: fraud jars [{' | '.join(sorted(BUNDLES))} ...]   fetch the pinned jars into {cache_dir()}\n\n"
              f"example:\n  fraud jars s3a iceberg", file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    try:
        for path in fetch(names):
            print(path)
    except JarFetchError as error:
        print(f"fraud jars: {error}", file=sys.stderr)
        return 1
    return 0
