"""Which store a URI names, and what a session over it needs (conf/storage.py)."""
from __future__ import annotations

import pytest

from conf import load_config
from conf.storage import S3A_FILE_SYSTEM, bucket_root, config_uris, explain, jar_bundles, s3_uri, session_settings


def test_athena_glue_and_mlflow_get_the_s3_spelling_of_an_s3a_uri():
    assert s3_uri("s3a://bucket/raw/transactions") == "s3://bucket/raw/transactions"
    assert s3_uri("s3://bucket/raw") == "s3://bucket/raw"
    assert s3_uri("/data/raw") == "/data/raw"


def test_bucket_root_keeps_the_scheme_and_is_none_for_local_paths():
    assert bucket_root("s3a://bucket/a/b") == "s3a://bucket/"
    assert bucket_root("s3://bucket") == "s3://bucket/"
    assert bucket_root("data/raw") is None


def test_the_default_local_run_needs_no_jars_and_no_s3_settings():
    config = load_config(None)
    assert jar_bundles(config, ["data/raw/transactions"]) == []
    assert session_settings(config, ["data/raw"]) == {}


def test_an_s3_uri_off_emr_brings_the_s3a_jars_and_the_endpoint_settings():
    config = load_config("s3-local")
    assert jar_bundles(config, config_uris(config)) == ["s3a", "iceberg"]  # paths on S3, tables in its JDBC catalog
    settings = session_settings(config, ["s3a://fraud-local/raw"])
    assert settings["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:5000"
    assert settings["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert settings["spark.hadoop.fs.s3.impl"] == S3A_FILE_SYSTEM  # s3:// is served by S3A too, off EMR
    assert not any("access.key" in key or "secret" in key for key in settings)  # credentials: the environment's


def test_on_emr_nothing_is_fetched_and_s3_is_left_to_emrfs():
    config = load_config("emr")
    assert jar_bundles(config, ["s3://bucket/raw"]) == []
    assert "spark.hadoop.fs.s3.impl" not in session_settings(config, ["s3://bucket/raw"])
    assert "spark.hadoop.fs.s3a.endpoint" not in session_settings(config, ["s3://bucket/raw"])


@pytest.mark.parametrize("message, reason", [
    ("UnknownStoreException: `s3a://b/x': NoSuchBucket", "bucket s3a://b/ does not exist at the S3 endpoint E"),
    ("NoAuthWithAWSException: No AWS Credentials provided", "no AWS credentials"),
    ("SdkClientException: Unable to execute HTTP request: Connect to h failed: Connection refused\n"
     "\tat org.Foo(Foo.java:403)", "cannot reach the S3 endpoint E"),
    ("AmazonS3Exception: Access Denied (Status Code: 403; Error Code: AccessDenied)", "access denied by the S3 "),
])
def test_a_file_system_failure_becomes_a_storage_error_naming_the_uri(message, reason):
    error = explain("s3a://b/x", RuntimeError(message), "E")
    assert str(error).startswith(f"s3a://b/x: {reason}")


def test_the_embedded_catalog_is_a_sqlite_file_made_absolute_with_its_folder(tmp_path, monkeypatch):
    from conf.storage import ICEBERG_EXTENSIONS, catalog_settings

    monkeypatch.chdir(tmp_path)
    config = load_config(None, ["catalog.kind=jdbc", "catalog.uri=jdbc:sqlite:store/catalog.db"])
    settings = catalog_settings(config)
    assert settings["spark.sql.catalog.fraud.uri"] == f"jdbc:sqlite:{tmp_path}/store/catalog.db"
    assert settings["spark.sql.catalog.fraud.warehouse"] == f"{tmp_path}/data/warehouse"
    assert settings["spark.sql.extensions"] == ICEBERG_EXTENSIONS and (tmp_path / "store").is_dir()
    assert jar_bundles(config, []) == ["iceberg"]
    assert catalog_settings(load_config(None)) == {}  # no catalog by default: nothing fetched, nothing set


def test_the_glue_catalog_uses_iceberg_s3_file_io_and_fetches_nothing_on_emr():
    from conf.storage import catalog_settings

    config = load_config("emr", ["catalog.kind=glue", "catalog.warehouse=s3://bucket/warehouse"])
    settings = catalog_settings(config)
    assert settings["spark.sql.catalog.fraud.type"] == "glue"
    assert settings["spark.sql.catalog.fraud.warehouse"] == "s3://bucket/warehouse"
    assert jar_bundles(config, config_uris(config)) == []
    # S3FileIO sends the encryption header the IAM policies require of every write (emr/iam/)
    assert settings["spark.sql.catalog.fraud.s3.sse.type"] == "s3"
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    kms = catalog_settings(load_config("emr", ["catalog.kind=glue", f"emr.kms_key_id={key}"]))
    assert (kms["spark.sql.catalog.fraud.s3.sse.type"], kms["spark.sql.catalog.fraud.s3.sse.key"]) == ("kms", key)


def test_an_embedded_catalog_that_is_not_sqlite_is_refused():
    from conf import ConfigError
    from conf.storage import catalog_settings

    with pytest.raises(ConfigError, match="catalog.uri must be jdbc:sqlite:PATH"):
        catalog_settings(load_config(None, ["catalog.kind=jdbc", "catalog.uri=jdbc:postgresql://db/x"]))
