"""The ingestion job on small files written here in each public shape, with bad rows among good ones; then the
feature job on what it wrote (kept columns, optional features, features skipped for a shape without ids)."""
from __future__ import annotations

import logging
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from expectations.contracts import RAW_TRANSACTIONS, ContractError
from ingest.mapping import MappingError
from jobs import build_features, ingest_source
from jobs.tables import FEATURES, INGESTED
from tests.conftest import config_for_tests, iceberg_settings, table_rows
from tests.ingest_shapes import random_raw, sparkov_from_raw, ulb_rows

FAST_SETTINGS = ("validation.enabled=false",)
FAST = config_for_tests(*FAST_SETTINGS)
KEPT = ["category", "merch_lat", "merch_long", "city_pop", "home_merchant_distance_km", "cardholder_age_years"]
CARD_KEY = "8f1d0c6e4b2a79355e0c1f3a9d7b6e42a1c3e5f7091b2d4f6a8c0e1f2a3b4c5d"  # a test key, as `openssl rand -hex 32`
SPARKOV_BAD = {  # row -> the reason it must be quarantined for
    0: "parse(tx_datetime): trans_date_trans_time is not a timestamp",
    1: "not_null(customer_id)",
    2: "between(tx_amount)",
    5: "parse(tx_amount): amt is not a double",
    6: "in_set(tx_fraud)",
}


@pytest.fixture(scope="module", autouse=True)
def card_key():
    """The keyed card id's secret, from the environment as in a run (the Sparkov mapping hashes card numbers)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FAST.ingest.card_key_env, CARD_KEY)
        yield


@pytest.fixture(scope="module")
def sparkov_csv(tmp_path_factory) -> Path:
    frame = sparkov_from_raw(random_raw(300, days=12, seed=3))
    frame.loc[0, "trans_date_trans_time"] = "2020-06-31 10:00:00"
    frame.loc[1, "cc_num"] = ""
    frame.loc[2, "amt"] = "-4.5"
    frame.loc[3, ["trans_num", "trans_date_trans_time"]] = frame.loc[40, ["trans_num", "trans_date_trans_time"]]
    frame.loc[5, "amt"] = "12,50"
    frame.loc[6, "is_fraud"] = "2"
    path = tmp_path_factory.mktemp("sparkov") / "fraudTrain.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def sparkov(spark, sparkov_csv, tmp_path_factory) -> tuple[Path, dict]:
    output = tmp_path_factory.mktemp("sparkov_out")
    return output, ingest_source.run(spark, FAST, str(sparkov_csv), "sparkov", str(output))


def test_every_sparkov_row_is_written_or_quarantined_with_its_reason_and_file(spark, sparkov, sparkov_csv):
    output, summary = sparkov
    written = spark.read.parquet(str(output / "transactions"))
    quarantined = spark.read.parquet(str(output / "transactions_quarantine"))
    assert summary["rows_in"] == 300 == written.count() + quarantined.count()
    assert (summary["rows_out"], summary["rows_quarantined"]) == (294, 6)
    bad = {int(r.source_row["_c0"]): (r.quarantine_reason, r.source_file) for r in quarantined.collect()}
    (copy,) = set(bad) - set(SPARKOV_BAD)  # row 3 repeats row 40's trans_num: one of the two is kept
    assert copy in (3, 40) and bad[copy][0].startswith("unique(transaction_id)")
    for row, reason in SPARKOV_BAD.items():
        assert bad[row][0].startswith(reason) and bad[row][1].endswith(sparkov_csv.name)


def test_the_quarantine_keeps_the_row_s_position_and_the_card_number_masked_and_no_personal_field(
        spark, sparkov, sparkov_csv):
    import pandas as pd

    output, _ = sparkov
    source = pd.read_csv(sparkov_csv, dtype=str, keep_default_na=False)
    quarantined = spark.read.parquet(str(output / "transactions_quarantine")).collect()
    for row in quarantined:
        number = int(row.source_row["_c0"])  # the CSV's first column is the row's index
        assert (row.source_offset, row.source_row_number) == (0, number + 1)
        card = source.loc[number, "cc_num"]
        assert row.source_row["cc_num"] == (f"{card[:6]}{'*' * (len(card) - 10)}{card[-4:]}" if card else None)
        assert not {"first", "last", "street", "city", "zip", "lat", "long", "job", "dob"} & set(
            row.source_row.asDict())


def test_no_card_number_or_personal_field_reaches_a_table_a_log_or_a_summary(spark, sparkov_csv, tmp_path, capsys,
                                                                              monkeypatch):
    """The file's card numbers, names, addresses and dates of birth are searched for in every file the ingest and
    feature jobs write (Parquet read value by value, other files as text), their logs and their printed output."""
    import pandas as pd
    import pyarrow.parquet as pq

    source = pd.read_csv(sparkov_csv, dtype=str, keep_default_na=False)
    secrets = {v for c in ("cc_num", "first", "last", "street", "dob") for v in source[c] if v}
    assert len(secrets) > 40  # 40 cards, a name, an address, the dates of birth
    log_file = tmp_path / "jobs.log"
    handler = logging.FileHandler(log_file)
    fraud_log = logging.getLogger("fraud")
    monkeypatch.setattr(fraud_log, "disabled", False)  # MLflow's store migrations may have disabled it
    monkeypatch.setattr(fraud_log, "level", logging.INFO)
    fraud_log.addHandler(handler)
    try:
        ingested = ingest_source.run(spark, FAST, str(sparkov_csv), "sparkov", str(tmp_path / "raw"))
        features = build_features.run(spark, config_for_tests("validation.allow_extra_columns=true",
                                                              "features.distance=true", "features.age=true"),
                                      str(tmp_path / "raw" / "transactions"), str(tmp_path / "features"))
    finally:
        fraud_log.removeHandler(handler)
        handler.close()
    texts = [json.dumps(ingested, default=str), json.dumps(features, default=str), capsys.readouterr().out]
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix == ".parquet":
            texts.append(json.dumps(pq.ParquetFile(path).read().to_pylist(), default=str))
        elif path.is_file():
            texts.append(path.read_bytes().decode("latin-1"))
    assert len(texts) > 10 and log_file.stat().st_size > 0
    found = {secret for secret in secrets for text in texts if secret in text}
    assert not found


def test_the_card_id_key_comes_from_secrets_manager_and_gives_the_ids_of_the_same_key_in_the_environment(
        aws_endpoint):
    from emr.clients import client

    config = config_for_tests(f"aws.endpoint_url={aws_endpoint}", "aws.region=us-east-1",
                              "ingest.card_key_secret=fraud/card-id-key")
    client("secretsmanager", config.aws).create_secret(Name="fraud/card-id-key", SecretString=CARD_KEY)
    assert ingest_source.card_key(config) == ingest_source.card_key(FAST) == bytes.fromhex(CARD_KEY)


@pytest.mark.parametrize("value", ["", "0123456789abcdef"])
def test_a_missing_or_short_card_id_key_stops_the_job_naming_where_it_was_looked_for(value, monkeypatch, tmp_path,
                                                                                      sparkov_csv):
    monkeypatch.setenv(FAST.ingest.card_key_env, value)
    with pytest.raises(ingest_source.CardKeyError, match=f"environment variable {FAST.ingest.card_key_env} is "
                                                         f"(missing|8 bytes)"):
        ingest_source.main(["--input", str(sparkov_csv), "--mapping", "sparkov", "--output", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_the_written_table_is_our_raw_layout_with_the_kept_columns(spark, sparkov):
    output, _ = sparkov
    written = spark.read.parquet(str(output / "transactions"))
    assert written.columns == [*RAW_TRANSACTIONS.columns, *KEPT, "tx_date"]
    assert sorted(p.name for p in (output / "transactions").glob("tx_date=*"))[0] == "tx_date=2020-06-01"
    assert written.where(F.to_date("tx_datetime") != F.col("tx_date")).count() == 0
    assert written.select("transaction_id").distinct().count() == written.count()
    # 40 cards and 60 merchants in the file: the hashed ids keep them apart
    assert written.select("customer_id").distinct().count() == 40
    shape = json.loads((output / "transactions" / "_shape.json").read_text())
    assert (shape["has_card_ids"], shape["kept_columns"]) == (True, KEPT)


def test_a_source_column_missing_from_the_file_stops_the_job_naming_mapping_and_key(spark, sparkov_csv, tmp_path):
    import pandas as pd

    path = tmp_path / "no_amount.csv"
    pd.read_csv(sparkov_csv, dtype=str).drop(columns=["amt"]).to_csv(path, index=False)
    with pytest.raises(MappingError, match=r"sparkov.yaml: columns.tx_amount.source: column 'amt' is not in"):
        ingest_source.run(spark, FAST, str(path), "sparkov", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def ulb(spark, tmp_path_factory) -> tuple[Path, dict]:
    frame = ulb_rows(200, seconds=2 * 86_400, seed=5)
    frame.loc[0, "Amount"] = -1.0
    frame.loc[1, "Class"] = ""
    frame.loc[2] = frame.loc[3]  # an exact duplicate row: the same derived id
    folder = tmp_path_factory.mktemp("ulb")
    frame.to_parquet(folder / "creditcard.parquet", index=False)
    return folder, ingest_source.run(spark, FAST, str(folder / "creditcard.parquet"), "ulb_creditcard",
                                     str(folder / "out"))


def test_a_ulb_parquet_file_gets_one_id_per_row_and_its_bad_rows_quarantined(spark, ulb):
    folder, summary = ulb
    assert (summary["rows_in"], summary["rows_out"], summary["rows_quarantined"]) == (200, 197, 3)
    reasons = sorted(summary["quarantine_reasons"])
    assert [r.split("(")[0] for r in reasons] == ["between", "not_null", "unique"]
    written = spark.read.parquet(str(folder / "out" / "transactions"))
    assert written.where((F.col("customer_id") != F.col("transaction_id")) |
                         (F.col("terminal_id") != F.col("transaction_id"))).count() == 0
    assert sorted(p.name for p in (folder / "out" / "transactions").glob("tx_date=*")) == [
        "tx_date=2013-09-01", "tx_date=2013-09-02"]
    assert summary["has_card_ids"] is False and summary["has_terminal_ids"] is False


def test_features_of_a_shape_without_ids_skip_card_and_terminal_windows(spark, ulb, caplog, monkeypatch):
    folder, _ = ulb
    config = config_for_tests("validation.enabled=false", "validation.allow_extra_columns=true")
    # the jobs' logger has its own handler and does not propagate once a job configured logging (jobs.common),
    # and MLflow's store migrations may have disabled it: listen on it directly
    fraud_log = logging.getLogger("fraud")
    monkeypatch.setattr(fraud_log, "disabled", False)
    fraud_log.addHandler(caplog.handler)
    try:
        summary = build_features.run(spark, config, str(folder / "out" / "transactions"), str(folder / "features"))
    finally:
        fraud_log.removeHandler(caplog.handler)
    assert summary["rows_out"] == 197
    columns = spark.read.parquet(str(folder / "features")).columns
    assert not [c for c in columns if c.startswith(("customer_id_", "terminal_id_"))]
    assert {"tx_during_night", "v1", "v28"} <= set(columns)
    assert "no card ids" in caplog.text and "no terminal ids" in caplog.text


def test_features_of_sparkov_carry_the_kept_columns_and_the_optional_features(spark, sparkov, tmp_path):
    output, _ = sparkov
    config = config_for_tests("validation.enabled=false", "validation.allow_extra_columns=true",
                              "features.distance=true", "features.age=true",
                              "features.category_risk_windows_days=[1, 7]", "features.customer_windows_days=[1]",
                              "features.terminal_windows_days=[1]")
    summary = build_features.run(spark, config, str(output / "transactions"), str(tmp_path))
    features = spark.read.parquet(str(tmp_path))
    assert summary["rows_out"] == features.count() == 294
    assert {*KEPT, "home_merchant_distance_km", "category_risk_7day_window", "cardholder_age_years"} <= set(
        features.columns)
    assert features.where(F.col("category_risk_7day_window").isNull()).count() == 0
    assert features.where(F.col("cardholder_age_years").isNull() | (F.col("cardholder_age_years") < 0)).count() == 0
    assert features.where(F.col("category_risk_7day_window") > 0).count() > 0  # frauds older than the delay


@pytest.mark.parametrize("switch, column", [("features.distance=true", "home_merchant_distance_km"),
                                            ("features.age=true", "cardholder_age_years")])
def test_an_optional_feature_without_its_kept_column_is_refused(spark, ulb, tmp_path, switch, column):
    folder, _ = ulb
    config = config_for_tests("validation.allow_extra_columns=true", switch)
    with pytest.raises(ContractError) as error:
        build_features.run(spark, config, str(folder / "out" / "transactions"), str(tmp_path))
    assert (error.value.column, error.value.rule) == (column, "required_column")
    assert not list(tmp_path.iterdir())


def test_a_re_run_replaces_the_file_s_dates_and_its_rejected_rows_instead_of_adding_rows(spark, sparkov, sparkov_csv):
    output, first = sparkov  # run last: the quarantine then holds the second run's rows
    again = ingest_source.run(spark, FAST, str(sparkov_csv), "sparkov", str(output))
    assert spark.read.parquet(str(output / "transactions")).count() == again["rows_out"] == first["rows_out"]
    quarantined = spark.read.parquet(str(output / "transactions_quarantine"))
    assert quarantined.count() == again["rows_quarantined"] == first["rows_quarantined"]
    assert {r.run_id for r in quarantined.select("run_id").distinct().collect()} == {again["run_id"]}


def test_ingest_reads_a_file_from_s3_and_writes_the_same_rows_to_s3(spark, sparkov, sparkov_csv, aws_endpoint,
                                                                    tmp_path):
    """The same file landed in a bucket of the local S3 endpoint, ingested to S3 through S3A."""
    from jobs.common import build_session
    from tests.conftest import s3_client

    S3_BUCKET = "fraud-ingest-test"
    s3_client(aws_endpoint).create_bucket(Bucket=S3_BUCKET)
    s3_client(aws_endpoint).upload_file(str(sparkov_csv), S3_BUCKET, f"landing/{sparkov_csv.name}")
    config = config_for_tests(*FAST_SETTINGS, f"aws.endpoint_url={aws_endpoint}", *iceberg_settings(tmp_path))
    build_session(config, uris=[f"s3a://{S3_BUCKET}/"])
    output = f"s3a://{S3_BUCKET}/ingested"
    summary = ingest_source.run(spark, config, f"s3a://{S3_BUCKET}/landing/{sparkov_csv.name}", "sparkov", output)
    local, _ = sparkov
    assert (summary["rows_in"], summary["rows_out"], summary["rows_quarantined"]) == (300, 294, 6)
    got = table_rows(spark, config, f"{output}/transactions", INGESTED)
    want = spark.read.parquet(f"{local}/transactions")
    assert got.exceptAll(want).count() == 0 and want.exceptAll(got).count() == 0
    quarantined = table_rows(spark, config, f"{output}/transactions_quarantine", INGESTED + "_quarantine")
    assert quarantined.count() == 6
    assert {r.source_file for r in quarantined.select("source_file").distinct().collect()} == {
        f"s3a://{S3_BUCKET}/landing/{sparkov_csv.name}"}


def test_an_ingested_iceberg_table_feeds_the_feature_job_as_its_folders_do(spark, sparkov, sparkov_csv, tmp_path):
    """Ingested into the catalog, the table is read through it (kept columns included), with the same features."""
    settings = ("validation.enabled=false", "validation.allow_extra_columns=true", "features.distance=true",
                "features.customer_windows_days=[1]", "features.terminal_windows_days=[1]")
    iceberg = config_for_tests(*settings, *iceberg_settings(tmp_path))
    out = tmp_path / "ingested"
    summary = ingest_source.run(spark, iceberg, str(sparkov_csv), "sparkov", str(out))
    assert summary["table"].startswith(f"{iceberg.catalog.name}.fraud.{INGESTED} (")
    from_table = build_features.run(spark, iceberg, str(out / "transactions"), str(tmp_path / "features"))
    from_folders = build_features.run(spark, config_for_tests(*settings), str(sparkov[0] / "transactions"),
                                      str(tmp_path / "folder_features"))
    assert from_table["rows_out"] == from_folders["rows_out"] == 294
    got = table_rows(spark, iceberg, str(tmp_path / "features"), FEATURES).drop("source_file")
    want = spark.read.parquet(str(tmp_path / "folder_features"))
    assert sorted(got.columns) == sorted(want.columns)
    assert got.exceptAll(want.select(*got.columns)).count() == 0 and want.count() == got.count()
