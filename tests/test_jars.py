"""Pinned jars fetched into the cache whole and checked, or not at all (conf/jars.py), from a local HTTP server
standing in for Maven Central."""
from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from conf import jars
from conf.jars import Artifact, JarFetchError


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """A Maven-layout folder served over HTTP on 127.0.0.1 with one jar: (url, its bytes)."""
    root = tmp_path_factory.mktemp("maven")
    content = b"PK\x03\x04 not a real jar, but bytes with a known digest"
    folder = root / "org" / "example" / "thing" / "1.0"
    folder.mkdir(parents=True)
    (folder / "thing-1.0.jar").write_bytes(content)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", content
    server.shutdown()


def test_a_jar_with_the_pinned_digest_lands_in_the_cache(repository, tmp_path):
    url, content = repository
    artifact = Artifact("org.example", "thing", "1.0", hashlib.sha256(content).hexdigest())
    target = tmp_path / "thing-1.0.jar"
    jars._download(artifact, target, url)
    assert target.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["thing-1.0.jar"]  # no temporary file left


def test_a_jar_with_another_digest_is_refused_and_leaves_nothing(repository, tmp_path):
    url, _ = repository
    artifact = Artifact("org.example", "thing", "1.0", "0" * 64)
    with pytest.raises(JarFetchError, match="thing-1.0.jar has SHA-256 .* not the pinned 0{64}: not used"):
        jars._download(artifact, tmp_path / "thing-1.0.jar", url)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_jar_is_an_error_naming_its_url(repository, tmp_path):
    url, _ = repository
    artifact = Artifact("org.example", "thing", "2.0", "0" * 64)
    with pytest.raises(JarFetchError, match=f"could not fetch {url}/org/example/thing/2.0/thing-2.0.jar"):
        jars._download(artifact, tmp_path / "thing-2.0.jar", url)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_bundle_is_an_error_listing_the_known_ones(tmp_path):
    with pytest.raises(JarFetchError, match="unknown jar bundle 'delta' \\(known: iceberg, s3a\\)"):
        jars.fetch(["delta"], tmp_path)


def test_the_s3a_bundle_is_what_pyspark_is_built_on():
    """hadoop-aws must match pyspark's own Hadoop client jars, or S3A fails at class loading."""
    import pathlib

    import pyspark

    client = sorted(p.name for p in (pathlib.Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar"))
    aws = next(a for a in jars.BUNDLES["s3a"] if a.name == "hadoop-aws")
    assert client == [f"hadoop-client-api-{aws.version}.jar"]
