"""The scoring report: the run's figures, the queue per day with reasons in words and each card's other
transactions, charts below; one self-contained file."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from pyspark.sql import functions as F, types as T

from models import html_report
from models.scoring import alerts

DAY, NEXT_DAY = dt.date(2018, 9, 30), dt.date(2018, 10, 1)
INPUTS = ("tx_amount", "customer_id_nb_tx_1day_window", "customer_id_avg_amount_30day_window",
          "terminal_id_risk_7day_window")
SCHEMA = T.StructType([
    T.StructField("transaction_id", T.LongType(), False),
    T.StructField("tx_datetime", T.TimestampType(), False),
    T.StructField("customer_id", T.LongType(), False),
    T.StructField("terminal_id", T.LongType(), False),
    *(T.StructField(name, T.DoubleType(), False) for name in INPUTS),
    T.StructField("tx_fraud", T.IntegerType()),
    T.StructField("fraud_probability", T.DoubleType(), False),
    T.StructField("risk_score", T.IntegerType(), False),
    T.StructField("outcome", T.StringType(), False),
    *(f for i in (1, 2, 3) for f in (T.StructField(f"reason_{i}", T.StringType(), False),
                                     T.StructField(f"reason_{i}_contribution", T.DoubleType(), False))),
    T.StructField("model_version", T.StringType()),
    T.StructField("tx_date", T.DateType(), False),
])
REASONS = ("customer_id_avg_amount_30day_window", 1.8, "terminal_id_risk_7day_window", 0.9,
           "customer_id_nb_tx_1day_window", 0.4)


def at(hour: int, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour))


def tx(tx_id, hour, card, terminal, amount, nb_tx, avg, risk, fraud, probability, outcome, day=DAY):
    return (tx_id, at(hour, day), card, terminal, amount, nb_tx, avg, risk, fraud, probability,
            round(probability * 1000), outcome, *REASONS, "3", day)


ROWS = [
    # card 11, queued first: its top transaction (305 against a 30-day average of 50) and two others
    tx(900001, 10, 11, 501, 305.0, 12.0, 50.0, 0.2345, 1, 0.97, "investigate"),
    tx(900002, 8, 11, 502, 20.0, 11.0, 48.0, 0.0, None, 0.40, "investigate"),
    tx(900003, 12, 11, 503, 25.0, 13.0, 47.0, 0.0, 0, 0.30, "investigate"),
    # card 22, queued second, alone that day
    tx(900004, 9, 22, 504, 80.0, 1.0, 80.0, 0.5, 0, 0.60, "investigate"),
    # card 33, not queued: its transaction is not on the page
    tx(900005, 11, 33, 505, 15.0, 2.0, 15.0, 0.0, 0, 0.10, "pass"),
    # the next day, nothing queued
    tx(900006, 11, 33, 505, 15.0, 2.0, 15.0, 0.0, 0, 0.10, "pass", NEXT_DAY),
]
SUMMARY = {"run_id": "abc123", "first_date": str(DAY), "last_date": str(NEXT_DAY),
           "features_table": "data/<features>", "model_uri": "models:/fraud-gbt@champion", "model_version": "3",
           "rows_scored": 6, "alerts": 2, "rows_quarantined": 0,
           "outcomes": {"investigate": 4, "pass": 2}, "seconds": 12.5}


@pytest.fixture(scope="module")
def scored(spark):
    return spark.createDataFrame(ROWS, SCHEMA)


@pytest.fixture(scope="module")
def page(scored):
    return html_report.build(scored, alerts(scored, 3), SUMMARY, INPUTS)


def card_row(page: str, card: int) -> str:
    return re.search(rf'<tr><td data-v="\d+">\d+</td><td data-v="{card}">{card}</td>.*?</tr>', page).group(0)


def test_the_page_opens_with_a_table_of_the_run_not_a_json_dump(page):
    top = page[:page.index("Investigators' queue")]
    assert '<table class="summary">' in top and "<th>rows scored</th><td>6</td>" in top
    assert "<pre>" not in page and '"run_id":' not in page


def test_the_summary_reads_a_dict_as_its_pairs(page):
    assert "<td>investigate 4, pass 2</td>" in page


def test_text_on_the_page_is_escaped(page):
    assert "data/&lt;features&gt;" in page and "<features>" not in page


def test_each_queued_card_is_a_row_of_its_top_transaction_in_rank_order(page):
    first, second = card_row(page, 11), card_row(page, 22)
    assert '<td data-v="1">1</td>' in first and '<td data-v="2">2</td>' in second
    assert page.index(first) < page.index(second)
    assert "<td data-v=\"305.0\">305.00</td>" in first and '<td data-v="501">501</td>' in first
    assert "<td>2018-09-30 10:00:00</td>" in first


def test_a_cards_reasons_read_in_words_with_their_contribution(page):
    row = card_row(page, 11)
    for phrase in ("amount 6.1x this card's 30-day average", "terminal's fraud rate over 7 days 0.23 (7-day delay)",
                   "12 transactions on this card in 1 day"):
        assert html.escape(phrase) in row
    assert "+1.80" in row


def test_a_cards_other_transactions_of_the_day_are_folded_under_it(page):
    folded = page[page.index(card_row(page, 11)):page.index(card_row(page, 22))]
    assert "<details><summary>2 other transactions of the day</summary>" in folded
    assert '<td data-v="900002">900002</td>' in folded and '<td data-v="900003">900003</td>' in folded


def test_a_card_alone_that_day_has_nothing_folded(page):
    row = card_row(page, 22)
    assert page[page.index(row) + len(row):].startswith("</tbody>")


def test_transactions_of_cards_not_queued_are_not_on_the_page(page):
    assert "900005" not in page and "900006" not in page


def test_a_day_without_a_queue_says_so(page):
    assert "<h3>2018-10-01</h3><p>No card queued.</p>" in page


def test_the_charts_come_after_the_queue(page):
    assert page.index("Investigators' queue") < page.index("data:image/png;base64,")


def test_the_page_fetches_nothing(page):
    assert "<script src" not in page and "<link" not in page and "http" not in page
    assert "table.sortable th" in page  # the inline sorting script


def test_queue_cases_keep_the_top_transaction_and_at_most_per_card_others(scored):
    cases = html_report.queue_cases(scored, alerts(scored, 3), INPUTS, per_card=1).where(F.col("customer_id") == 11)
    got = sorted((r.position, r.transaction_id, r.reason_1_value) for r in cases.collect())
    assert got == [(1, 900001, 50.0), (2, 900002, 48.0)]
