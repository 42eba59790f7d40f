"""Loading and checking mapping files: the shipped ones load, and every mistake names the file and the key."""
from __future__ import annotations

import datetime as dt

import pytest

from ingest.mapping import MappingError, check_sources, load_mapping

SPARKOV_SOURCES = ["", "trans_date_trans_time", "cc_num", "merchant", "category", "amt", "lat", "long", "city_pop",
                   "dob", "trans_num", "merch_lat", "merch_long", "is_fraud"]
MINIMAL = """
columns:
  transaction_id: {source: id}
  tx_datetime: {source: ts, type: timestamp}
  customer_id: {source: card}
  terminal_id: {source: shop, derive: hash}
  tx_amount: {source: amount, type: double}
  tx_fraud: {source: label, type: int}
"""


def write(tmp_path, text: str):
    path = tmp_path / "shape.yaml"
    path.write_text(text)
    return path


def test_the_shipped_mappings_load_by_name():
    sparkov, ulb = load_mapping("sparkov"), load_mapping("ulb_creditcard")
    assert (sparkov.has_card_ids, ulb.has_card_ids, ulb.has_terminal_ids) == (True, False, False)
    assert sparkov.kept_columns == ["category", "merch_lat", "merch_long", "city_pop", "home_merchant_distance_km",
                                    "cardholder_age_years"]
    assert (sparkov.sensitive["cc_num"], sparkov.sensitive["dob"], sparkov.needs_key) == ("card_number", "personal",
                                                                                          True)
    assert ulb.kept_columns == [f"v{i}" for i in range(1, 29)]
    time = next(s for s in ulb.columns if s.target == "tx_datetime")
    assert (time.unit, time.origin) == ("seconds_since_origin", dt.datetime(2013, 9, 1))


@pytest.mark.parametrize("text, message", [
    (MINIMAL + "colour: red\n", "unknown key colour"),
    (MINIMAL.replace("{source: amount, type: double}", "{source: amount, type: double, fromat: x}"),
     "unknown key columns.tx_amount.fromat"),
    (MINIMAL.replace("tx_fraud: {source: label, type: int}", ""), "columns.tx_fraud is missing"),
    (MINIMAL.replace("type: double", "type: decimal"), "columns.tx_amount.type must be one of"),
    (MINIMAL.replace("type: double", "type: string"), "columns.tx_amount.type must be double"),
    (MINIMAL.replace("derive: hash", "derive: md5"), "columns.terminal_id.derive must be one of"),
    (MINIMAL + "  tx_time_days: {source: d, type: int}\n", "columns.tx_time_days: computed by the job"),
    (MINIMAL + "keep:\n  tx_amount: {source: amount}\n", "keep.tx_amount is one of our raw columns"),
    (MINIMAL + "has_card_ids: maybe\n", "has_card_ids must be true or false"),
    (MINIMAL.replace("type: timestamp", "type: timestamp, unit: seconds_since_origin, origin: soon"),
     "columns.tx_datetime.origin must be a timestamp"),
    (MINIMAL + "sensitive: {card: card_number}\n", r"columns.customer_id reads 'card', marked sensitive "
                                                   r"\(card_number\): read it only through derive keyed_hash"),
    (MINIMAL.replace("{source: card}", "{source: card, derive: hash}") + "sensitive: {card: card_number}\n",
     "columns.customer_id reads 'card', marked sensitive"),
    (MINIMAL + "sensitive: {dob: personal}\nkeep:\n  dob: {source: dob, type: date}\n",
     r"keep.dob reads 'dob', marked sensitive \(personal\): read it only through derive keyed_hash or age_years or"),
    (MINIMAL + "sensitive: {home: secret}\n", "sensitive.home must be card_number or personal"),
    (MINIMAL + "keep:\n  km: {source: lat, derive: distance_km}\n", r"keep.km.derive distance_km needs source: \["),
    (MINIMAL + "keep:\n  x: {source: [a, b]}\n", "keep.x.source must be one column name"),
])
def test_a_bad_mapping_names_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(MappingError, match=message) as error:
        load_mapping(path)
    assert str(path) in str(error.value)


def test_a_sensitive_column_read_through_a_derivation_that_hides_it_is_accepted(tmp_path):
    text = MINIMAL.replace("{source: card}", "{source: card, derive: keyed_hash}") + (
        "sensitive: {card: card_number, dob: personal, lat: personal, lon: personal}\n"
        "keep:\n  age: {source: dob, derive: age_years}\n"
        "  km: {source: [lat, lon, shop_lat, shop_lon], derive: distance_km}\n")
    mapping = load_mapping(write(tmp_path, text))
    assert [(s.target, s.type, s.reads) for s in mapping.keep] == [
        ("age", "double", ("dob",)), ("km", "double", ("lat", "lon", "shop_lat", "shop_lon"))]


def test_a_source_column_missing_from_the_input_is_named_with_the_mapping_key():
    mapping = load_mapping("sparkov")
    check_sources(mapping, SPARKOV_SOURCES, "in.csv")
    with pytest.raises(MappingError, match=r"columns.customer_id.source: column 'cc_num' is not in the input in.csv"):
        check_sources(mapping, [c for c in SPARKOV_SOURCES if c != "cc_num"], "in.csv")


def test_a_column_with_a_default_may_be_absent(tmp_path):
    mapping = load_mapping(write(tmp_path, MINIMAL + "  tx_fraud_scenario: {source: scenario, default: 0}\n"))
    check_sources(mapping, ["id", "ts", "card", "shop", "amount", "label"], "in.csv")


def test_a_missing_mapping_file_is_named(tmp_path):
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "nope.yaml")
