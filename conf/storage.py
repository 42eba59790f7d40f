"""Where tables, models and reports live: local folders or S3, by configuration alone.

Every job reads and writes through one code path: Spark's Hadoop file system for tables, the small files beside
them and checkpoints; boto3 for MLflow's artifacts and the Glue catalog. A URI's scheme picks the store:
- `s3a://bucket/key`: the S3A connector, on any S3-compatible store (AWS, a local endpoint, MinIO). Off EMR its
  jars come from Maven Central (`conf.jars`, bundle `s3a`); `aws.endpoint_url` points it elsewhere than AWS.
- `s3://bucket/key`: EMRFS on EMR (no extra jars there); off EMR the same S3A connector serves it.
- anything else: a local (or HDFS) path.

The code branches on the scheme only where a consumer or a cost differs:
- `s3_uri`: Athena, Glue and MLflow's artifact store (boto3) name S3 objects `s3://` only; an `s3a://` URI names
  the same object.
- `jar_bundles` / `session_settings`: a session that touches S3 off EMR needs the connector's jars and settings.
- `jobs.tables.require_locations` probes the buckets of S3 URIs before a job reads or writes (a local folder
  needs no probe: it is created on write).
- `models.tracking.use_experiment` gives MLflow's boto3 client the endpoint (MLFLOW_S3_ENDPOINT_URL) when the
  artifact root is on S3.
- `jobs.pipeline` registers the tables in the Glue catalog only when they are on S3 (Athena reads nothing else).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from conf import ConfigError

S3_SCHEMES = ("s3://", "s3a://")
S3A_FILE_SYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"
_BUCKET = re.compile(r"^s3a?://([^/]+)")


class StorageError(RuntimeError):
    """A location that cannot be used (no such bucket, endpoint unreachable, no credentials); names the URI."""


def is_s3(uri: str | None) -> bool:
    return bool(uri) and uri.startswith(S3_SCHEMES)


def s3_uri(uri: str) -> str:
    """The `s3://` spelling of an S3 URI (what Athena, Glue and boto3-based tools read); others unchanged."""
    return "s3://" + uri[len("s3a://"):] if uri.startswith("s3a://") else uri


def bucket_root(uri: str) -> str | None:
    """`s3a://bucket/` of an S3 URI (its own scheme kept); None for a local path."""
    found = _BUCKET.match(uri or "")
    return f"{uri.split('://', 1)[0]}://{found.group(1)}/" if found else None


def config_uris(config) -> list[str]:
    """Every location the config names: the tables' roots, the MLflow artifact root, the checkpoints and the
    Iceberg warehouse."""
    return [u for u in (*vars(config.paths).values(), config.tracking.artifact_root, config.model.checkpoint_dir,
                        config.catalog.warehouse if config.catalog.kind else None) if u]


def jar_bundles(config, uris: Iterable[str]) -> list[str]:
    """The `conf.jars` bundles a session over `uris` needs: the config's own, and off EMR S3A and Iceberg's."""
    bundles = list(config.spark.jars)
    if config.spark.fetch_jars and any(is_s3(u) for u in uris):
        bundles.append("s3a")
    if config.spark.fetch_jars and config.catalog.kind == "jdbc":
        bundles.append("iceberg")
    return list(dict.fromkeys(bundles))


ICEBERG_CATALOG = "org.apache.iceberg.spark.SparkCatalog"
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"


def absolute_location(location: str) -> str:
    """A local path made absolute; a URI (`s3a://`, `file:`) unchanged."""
    return location if "://" in location else str(Path(location).resolve())


def catalog_settings(config) -> dict[str, str]:
    """The Spark settings of the config's Iceberg catalog (none without one): `jdbc`, an embedded catalog in a
    SQLite file (created with its folder; a relative path is made absolute, as the MLflow store's is), or `glue`,
    the AWS Glue Data Catalog with Iceberg's S3 file IO (EMR, whose Iceberg has its AWS classes)."""
    catalog = config.catalog
    if catalog.kind is None:
        return {}
    prefix = f"spark.sql.catalog.{catalog.name}"
    settings = {"spark.sql.extensions": ICEBERG_EXTENSIONS, prefix: ICEBERG_CATALOG,
                f"{prefix}.warehouse": absolute_location(catalog.warehouse)}
    if catalog.kind == "jdbc":
        path = catalog.uri.removeprefix("jdbc:sqlite:")
        if path == catalog.uri:
            raise ConfigError(f"catalog.uri must be jdbc:sqlite:PATH for the embedded catalog, got {catalog.uri!r}")
        database = Path(path).resolve()
        database.parent.mkdir(parents=True, exist_ok=True)
        # runs at once share the file: in write-ahead-log mode a reader never blocks a writer (Iceberg's pooled
        # connections can hold a read open), and a writer waits for another's lock (SQLite's busy timeout)
        settings.update({f"{prefix}.type": "jdbc", f"{prefix}.uri": f"jdbc:sqlite:{database}",
                         f"{prefix}.jdbc.schema-version": "V1", f"{prefix}.jdbc.journal_mode": "WAL",
                         f"{prefix}.jdbc.busy_timeout": "30000"})
    else:
        settings.update({f"{prefix}.type": "glue", f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO"})
        # S3FileIO does not read EMRFS's encryption settings: it sends the same server-side encryption header
        # itself, which the IAM policies' deny of other writes requires (emr/iam/instance-profile-policy.json)
        key = config.emr.kms_key_id
        settings.update({f"{prefix}.s3.sse.type": "kms", f"{prefix}.s3.sse.key": key} if key
                        else {f"{prefix}.s3.sse.type": "s3"})
    return settings


def session_settings(config, uris: Iterable[str]) -> dict[str, str]:
    """The S3A settings of a session over `uris`: s3:// served by S3A off EMR, the endpoint of `aws.endpoint_url`
    (path-style requests, TLS as its scheme says) and the region. Credentials are not set here: S3A takes them
    from the environment, the instance role or the config's `spark.extra` (`spark.hadoop.fs.s3a.*`)."""
    uris = list(uris)
    if not any(is_s3(u) for u in uris):
        return {}
    settings = {}
    if config.spark.fetch_jars:
        settings["spark.hadoop.fs.s3.impl"] = S3A_FILE_SYSTEM
    if config.aws.endpoint_url:
        settings.update({"spark.hadoop.fs.s3a.endpoint": config.aws.endpoint_url,
                         "spark.hadoop.fs.s3a.path.style.access": "true",
                         "spark.hadoop.fs.s3a.connection.ssl.enabled":
                             str(config.aws.endpoint_url.startswith("https://")).lower()})
    if config.aws.region:
        settings["spark.hadoop.fs.s3a.endpoint.region"] = config.aws.region
    return settings


def explain(uri: str, error: Exception, endpoint: str | None) -> StorageError:
    """A `StorageError` naming `uri` for a failure of the Hadoop file system (a Py4J error from the JVM)."""
    # the exception's messages (its own and its causes'), not the stack frames, whose line numbers match anything
    text = "\n".join(line for line in str(error).splitlines() if not line.lstrip().startswith("at "))
    where = f"the S3 endpoint {endpoint}" if endpoint else "S3"
    if "NoSuchBucket" in text or "UnknownStoreException" in text:
        reason = f"bucket {bucket_root(uri)} does not exist at {where}"
    elif "NoAuthWithAWSException" in text or "No AWS Credentials" in text or "Unable to load AWS credentials" in text:
        reason = ("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run "
                  "with an instance role")
    elif "Connection refused" in text or "UnknownHost" in text or "Unable to execute HTTP request" in text:
        reason = f"cannot reach {where}"
    elif "AccessDenied" in text or "Status Code: 403" in text:
        reason = f"access denied by {where}"
    elif "No FileSystem for scheme" in text or "ClassNotFoundException" in text:
        reason = ("this Spark session has no S3A connector (started without its jars: build the session with "
                  "jobs.common.build_session, or pass spark.jars)")
    else:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        reason = lines[1 if len(lines) > 1 and lines[0].startswith("An error occurred") else 0][:300]
    return StorageError(f"{uri}: {reason}")
