"""Window edges of the feature families of issue 9 on small literal DataFrames: a row exactly n days (or an
hour) earlier, one a second inside, a card with one transaction, same-second peers. Each family runs once per
module on one DataFrame whose cards (terminals) each hold one case."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from features.card_behaviour import MAD_TO_STD, with_card_behaviour, with_card_large_amounts, with_card_robust_zscore
from features.delayed_risk import with_delayed_risk
from features.novelty import with_card_terminal_novelty
from features.terminal_activity import with_terminal_activity

T0 = dt.datetime(2020, 6, 20, 12, 0, 0)
DAY, SECOND, HOUR = dt.timedelta(days=1), dt.timedelta(seconds=1), dt.timedelta(hours=1)
SCHEMA = ("transaction_id long, tx_datetime timestamp, customer_id long, terminal_id long, tx_amount double, "
          "tx_fraud int")


def frame(spark, rows):
    """rows: (card, terminal, instant, amount, fraud); transaction ids in row order from 0."""
    data = [(i, at, card, terminal, amount, fraud) for i, (card, terminal, at, amount, fraud) in enumerate(rows)]
    return spark.createDataFrame(data, SCHEMA).select("*", F.to_date("tx_datetime").alias("tx_date"))


def by_id(df) -> dict:
    return {r.transaction_id: r for r in df.collect()}  # a handful of literal rows


CARD_ROWS = [
    (1, 1, T0 - 7 * DAY, 10.0, 0), (1, 2, T0, 100.0, 0),                      # ids 0, 1: exactly 7 days earlier
    (2, 1, T0 - 7 * DAY + SECOND, 10.0, 0), (2, 1, T0, 100.0, 0),             # ids 2, 3: one second inside
    (3, 1, T0, 42.0, 0),                                                      # id 4: a card with one transaction
    (4, 1, T0 - HOUR, 5.0, 0), (4, 2, T0 - HOUR + SECOND, 5.0, 0), (4, 3, T0, 5.0, 0),  # ids 5-7: the last hour
    (5, 1, T0 - DAY, 20.0, 0), (5, 2, T0, 10.0, 0), (5, 3, T0, 100.0, 0),     # ids 8-10: same-second peers
    (6, 1, T0 - 2 * DAY, 10.0, 0), (6, 1, T0 - DAY, 30.0, 0), (6, 1, T0, 50.0, 0),  # ids 11-13: mean 20, std 10
]


@pytest.fixture(scope="module")
def card(spark):
    out = with_card_behaviour(frame(spark, CARD_ROWS), windows_days=(7, 30), recent_seconds=3_600, min_std=1.0,
                              gap_cap_days=30, groups=2)
    return by_id(with_card_robust_zscore(out, days=7, max_rows=50, min_std=1.0, groups=2))


def test_zscore_window_excludes_a_row_exactly_n_days_earlier(card):
    assert (card[1].card_amount_zscore_7day_window, card[1].card_amount_zscore_30day_window) == (0.0, 90.0)


def test_zscore_window_includes_a_row_one_second_inside(card):
    assert card[3].card_amount_zscore_7day_window == 90.0  # (100 - 10) / the spread floor 1.0


def test_zscore_is_against_the_mean_and_std_of_earlier_amounts(card):
    assert card[13].card_amount_zscore_7day_window == pytest.approx(3.0)


def test_zscore_ignores_same_second_peers(card):
    assert (card[9].card_amount_zscore_7day_window, card[10].card_amount_zscore_7day_window) == (-10.0, 80.0)


def test_card_with_one_transaction(card):
    row = card[4]
    assert (row.card_amount_zscore_7day_window, row.card_nb_terminals_7day_window, row.card_nb_tx_recent_window,
            row.card_seconds_since_previous, row.card_amount_robust_z_7day_window) == (0.0, 1, 1, 30 * 86_400, 0.0)


def test_distinct_terminals_count_the_current_one_and_drop_a_row_exactly_n_days_earlier(card):
    assert (card[1].card_nb_terminals_7day_window, card[1].card_nb_terminals_30day_window) == (1, 2)
    assert card[3].card_nb_terminals_7day_window == 1  # the same terminal twice


def test_recent_window_excludes_a_row_exactly_an_hour_earlier(card):
    assert (card[7].card_nb_tx_recent_window, card[7].card_seconds_since_previous) == (2, 3_599)


def test_seconds_since_previous_skips_same_second_peers(card):
    assert (card[9].card_seconds_since_previous, card[10].card_seconds_since_previous) == (86_400, 86_400)
    assert (card[9].card_nb_tx_recent_window, card[10].card_nb_tx_recent_window) == (2, 2)


def test_robust_zscore_edges_and_scale(card):
    assert (card[1].card_amount_robust_z_7day_window, card[3].card_amount_robust_z_7day_window) == (0.0, 90.0)
    assert card[13].card_amount_robust_z_7day_window == pytest.approx(30 / (MAD_TO_STD * 10))


LARGE_ROWS = [
    *((7, 1, T0 - d * DAY, 10.0, 0) for d in (10, 9, 8)), (7, 1, T0 - 7 * DAY, 100.0, 0), (7, 1, T0, 10.0, 0),  # 0-4
    *((8, 1, T0 - d * DAY, 10.0, 0) for d in (10, 9, 8)), (8, 1, T0 - 7 * DAY + SECOND, 100.0, 0),             # 5-8
    (8, 1, T0 - DAY, 100.0, 0), (8, 1, T0, 100.0, 0), (8, 1, T0, 100.0, 0),                                    # 9-11
    *((9, 1, T0 - d * DAY, 10.0, 0) for d in (10, 9, 8)), (9, 1, T0 - DAY, 15.0, 0), (9, 1, T0, 10.0, 0),   # 12-16
    (10, 1, T0, 500.0, 0),                                                                                     # 17
]


@pytest.fixture(scope="module")
def large(spark):
    return by_id(with_card_large_amounts(frame(spark, LARGE_ROWS), days=7, threshold=5.0, robust_days=30,
                                         max_rows=50, min_std=1.0, groups=2))


def test_large_amounts_exclude_a_row_exactly_n_days_earlier_and_the_current_row(large):
    assert (large[3].card_large_amounts_7day_window, large[4].card_large_amounts_7day_window) == (0, 0)


def test_large_amounts_include_a_row_one_second_inside(large):
    assert (large[8].card_large_amounts_7day_window, large[9].card_large_amounts_7day_window) == (0, 1)


def test_large_amounts_ignore_same_second_peers(large):
    # ids 10 and 11 are both large (z = 90 against a median of 10) and share their second: each counts 8 and 9 only
    assert (large[10].card_large_amounts_7day_window, large[11].card_large_amounts_7day_window) == (2, 2)


def test_large_amounts_count_z_scores_strictly_above_the_threshold(large):
    assert large[16].card_large_amounts_7day_window == 0  # id 15: (15 - 10) / the spread floor 1.0 = 5.0


def test_large_amounts_of_a_card_with_one_transaction(large):
    assert large[17].card_large_amounts_7day_window == 0


def test_large_amounts_need_the_robust_zscore():
    from conf import FeaturesConf
    from features.families import family_names

    with pytest.raises(ValueError, match="large_amounts_days .* needs features.robust_zscore_days"):
        family_names(FeaturesConf(robust_zscore_days=0, large_amounts_days=7))


def test_large_amounts_read_their_robust_zscores_look_back():
    from conf import FeaturesConf
    from features.families import lookback_days

    none = dict(card_behaviour_windows_days=(), terminal_activity_windows_days=(), novelty_days=0,
                delayed_risk_windows_days=())
    assert lookback_days(FeaturesConf(**none, robust_zscore_days=30, large_amounts_days=0)) == 30
    assert lookback_days(FeaturesConf(**none, robust_zscore_days=30, large_amounts_days=7)) == 37


def test_terminal_activity_windows(spark):
    rows = [(1, 7, T0 - DAY, 10.0, 1), (2, 7, T0, 30.0, 0),           # exactly a day earlier, another card
            (1, 8, T0 - DAY + SECOND, 10.0, 0), (2, 8, T0, 30.0, 0)]  # one second inside
    got = by_id(with_terminal_activity(frame(spark, rows), windows_days=(1, 7), groups=2))
    assert (got[1].terminal_live_nb_tx_1day_window, got[1].terminal_live_nb_tx_7day_window) == (1, 2)
    assert (got[3].terminal_live_nb_tx_1day_window, got[3].terminal_live_avg_amount_1day_window) == (2, 20.0)
    assert got[0].terminal_live_nb_tx_1day_window == 1


def test_card_terminal_novelty(spark):
    rows = [(1, 1, T0 - 7 * DAY, 10.0, 0), (1, 1, T0, 10.0, 0),               # exactly 7 days earlier: new
            (2, 1, T0 - 7 * DAY + SECOND, 10.0, 0), (2, 1, T0, 10.0, 0),      # one second inside: known
            (3, 1, T0 - DAY, 30.0, 0), (3, 2, T0 - DAY, 10.0, 0), (3, 1, T0, 5.0, 0),  # 30 of 40 spent there
            (4, 1, T0, 10.0, 0), (4, 1, T0, 10.0, 0)]                          # same-second peers
    got = by_id(with_card_terminal_novelty(frame(spark, rows), days=7, groups=2))
    pairs = {i: (got[i].card_terminal_new_7day_window, got[i].card_terminal_spend_share_7day_window)
             for i in got}
    assert (pairs[0], pairs[1], pairs[3], pairs[6]) == ((1, 0.0), (1, 0.0), (0, 1.0), (0, 0.75))
    assert (pairs[7], pairs[8]) == ((1, 0.0), (1, 0.0))


@pytest.fixture(scope="module")
def delayed(spark):
    d0 = dt.datetime(2020, 6, 20, 1, 0, 0)  # card rows: whole-day delay
    rows = [
        (1, 100, T0 - 7 * DAY, 1.0, 1), (2, 100, T0, 1.0, 0),                         # ids 0, 1
        (1, 101, T0 - 7 * DAY + SECOND, 1.0, 1), (2, 101, T0, 1.0, 0),                # ids 2, 3
        (1, 102, T0 - 12 * DAY, 1.0, 0), (1, 102, T0 - 10 * DAY, 1.0, 1),
        (1, 102, T0 - 9 * DAY, 1.0, 1), (2, 102, T0, 1.0, 0),                         # ids 4-7
        (1, 103, T0 - 9 * DAY, 1.0, 1), (1, 103, T0 - 8 * DAY, 1.0, 0), (2, 103, T0, 1.0, 0),  # ids 8-10
        (10, 200, d0 - 7 * DAY - 2 * HOUR, 1.0, 1), (10, 200, d0, 1.0, 0),            # ids 11, 12: day D-8
        (11, 200, d0 - 7 * DAY, 1.0, 1), (11, 200, d0 + 22 * HOUR, 1.0, 0),           # ids 13, 14: day D-7
        (12, 200, d0 - 14 * DAY, 1.0, 1), (12, 200, d0, 1.0, 0),                      # ids 15, 16: day D-14
    ]
    return by_id(with_delayed_risk(frame(spark, rows), windows_days=(1, 7), delay_days=7, groups=2))


def terminal_risk(row):
    return (row.terminal_known_frauds_1day_window, row.terminal_known_frauds_7day_window,
            row.terminal_known_fraud_streak, row.terminal_known_fraud_streak_days)


def test_a_terminal_fraud_exactly_delay_days_earlier_is_known(delayed):
    assert terminal_risk(delayed[1]) == (1, 1, 1, 7.0)


def test_a_terminal_fraud_one_second_inside_the_delay_is_not_known(delayed):
    assert terminal_risk(delayed[3]) == (0, 0, 0, 0.0)


def test_a_known_run_of_terminal_frauds_gives_its_length_and_age(delayed):
    assert terminal_risk(delayed[7]) == (0, 2, 2, 10.0)


def test_a_run_ended_by_a_known_genuine_transaction_is_no_streak(delayed):
    assert terminal_risk(delayed[10]) == (0, 1, 0, 0.0)


def test_a_card_fraud_is_known_from_the_day_after_delay_days(delayed):
    row = delayed[12]
    assert (row.card_known_frauds_1day_window, row.card_known_frauds_7day_window, row.card_flagged) == (1, 1, 1)


def test_a_card_fraud_of_day_minus_delay_is_not_known_even_if_older_in_seconds(delayed):
    row = delayed[14]
    assert (row.card_known_frauds_1day_window, row.card_known_frauds_7day_window, row.card_flagged) == (0, 0, 0)


def test_card_fraud_windows_end_n_days_before_the_known_horizon(delayed):
    row = delayed[16]
    assert (row.card_known_frauds_1day_window, row.card_known_frauds_7day_window, row.card_flagged) == (0, 1, 1)
    assert delayed[11].card_flagged == 0  # a card's own first fraud is not known on its day


def test_one_pass_per_key_equals_each_family_on_its_own(spark):
    from chispa import assert_df_equality

    from conf import FeaturesConf
    from features.families import with_feature_families

    conf = FeaturesConf(card_behaviour_windows_days=(7,), robust_zscore_days=7, large_amounts_days=7,
                        delayed_risk_windows_days=(1, 7))
    df = frame(spark, [(card, terminal, at, amount, int(amount > 50)) for card, terminal, at, amount, _ in CARD_ROWS])
    together = with_feature_families(df, conf, groups=2)
    alone = (df.transform(with_card_behaviour, (7,), 3_600, 1.0, 30, 2)
             .transform(with_card_robust_zscore, 7, 50, 1.0, 2)
             .transform(with_card_large_amounts, 7, 5.0, 7, 50, 1.0, 2)
             .transform(with_delayed_risk, (1, 7), 7, 2))
    assert_df_equality(together.select(*alone.columns), alone, ignore_row_order=True)


def test_families_needing_missing_ids_are_switched_off_for_an_ingested_shape():
    from conf import FeaturesConf
    from jobs.build_features import plan_features

    conf = FeaturesConf(card_behaviour_windows_days=(7,), robust_zscore_days=30, terminal_activity_windows_days=(1,),
                        novelty_days=30, delayed_risk_windows_days=(7,))
    planned = plan_features(conf, {"has_terminal_ids": False}, "table")
    assert (planned.card_behaviour_windows_days, planned.robust_zscore_days, planned.large_amounts_days,
            planned.terminal_activity_windows_days, planned.novelty_days,
            planned.delayed_risk_windows_days) == ((7,), 30, 7, (), 0, ())
    no_cards = plan_features(conf, {"has_card_ids": False}, "table")
    assert (no_cards.robust_zscore_days, no_cards.large_amounts_days) == (0, 0)
