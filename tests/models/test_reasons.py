"""Reason codes in words."""
from __future__ import annotations

import dataclasses

from conf import FeaturesConf
from models.reasons import reason_phrase


def test_an_average_amount_reads_as_the_ratio_of_the_transactions_amount():
    assert reason_phrase("customer_id_avg_amount_30day_window", 50.0, amount=305.0) == \
        "amount 6.1x this card's 30-day average"


def test_an_average_amount_without_the_amount_reads_as_the_average():
    assert reason_phrase("customer_id_avg_amount_7day_window", 50.0) == "this card's 7-day average 50.00"


def test_a_zero_average_amount_is_not_divided_by():
    assert reason_phrase("terminal_live_avg_amount_1day_window", 0.0, amount=20.0) == \
        "the terminal's 1-day average 0.00"


def test_terminal_risk_names_its_window_and_the_configured_delay():
    features = dataclasses.replace(FeaturesConf(), delay_days=5)
    assert reason_phrase("terminal_id_risk_7day_window", 0.2345, features=features) == \
        "terminal's fraud rate over 7 days 0.23 (5-day delay)"


def test_a_count_reads_as_transactions_on_the_card_in_its_window():
    assert reason_phrase("customer_id_nb_tx_1day_window", 12.0) == "12 transactions on this card in 1 day"


def test_a_count_of_one_is_singular():
    assert reason_phrase("customer_id_nb_tx_7day_window", 1.0) == "1 transaction on this card in 7 days"


def test_a_flag_reads_as_its_meaning():
    assert reason_phrase("tx_during_night", 1.0) == "at night (before 6:00)"


def test_a_gap_at_the_cap_reads_as_no_earlier_transaction():
    assert reason_phrase("card_seconds_since_previous", 30 * 86_400.0) == \
        "no earlier transaction on this card in 30 days"


def test_a_short_gap_reads_in_minutes():
    assert reason_phrase("card_seconds_since_previous", 300.0) == "5 minutes since this card's previous transaction"


def test_an_unknown_feature_reads_as_its_name_and_value():
    assert reason_phrase("kmeans_distance", 3.14159) == "kmeans_distance = 3.142"


def test_a_null_value_reads_as_unknown():
    assert reason_phrase("customer_id_nb_tx_1day_window", None) == "customer_id_nb_tx_1day_window unknown"


def test_a_recent_count_names_its_window_in_words():
    assert reason_phrase("card_nb_tx_recent_window", 4.0) == "4 transactions on this card in the last hour"
