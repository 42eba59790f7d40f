"""models.metrics against scikit-learn, a direct pandas card precision @ k, and small literal examples."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import types as T
from sklearn.metrics import average_precision_score, roc_auc_score

from models import metrics

TOLERANCE = 1e-12
K = 2
D1, D2, D3 = dt.date(2018, 8, 1), dt.date(2018, 8, 2), dt.date(2018, 8, 3)
SCORED = T.StructType([
    T.StructField("setting", T.StringType()),
    T.StructField("customer_id", T.LongType()),
    T.StructField("tx_date", T.DateType()),
    T.StructField("tx_fraud", T.IntegerType()),
    T.StructField("score", T.DoubleType()),
])


def random_scored(seed: int, rows: int, cards: int, days: int) -> pd.DataFrame:
    """Three settings with heavy ties: scores rounded to 1, 2 and 1 decimals, labels correlated with scores."""
    rng = np.random.default_rng(seed)
    setting = rng.choice(["a", "b", "c"], rows)
    raw = rng.random(rows)
    score = np.where(setting == "b", raw.round(2), raw.round(1))
    return pd.DataFrame({
        "setting": setting,
        "customer_id": rng.integers(0, cards, rows),
        "tx_date": [D1 + dt.timedelta(days=int(d)) for d in rng.integers(0, days, rows)],
        "tx_fraud": (rng.random(rows) < 0.2 + 0.5 * raw).astype("int32"),
        "score": score,
    })


@pytest.fixture(scope="module")
def random_frame() -> pd.DataFrame:
    return random_scored(seed=11, rows=2000, cards=200, days=4)


def by_setting(df) -> dict:
    return {row["setting"]: row for row in df.collect()}


def test_auc_roc_and_average_precision_equal_sklearn_per_group_with_ties(spark, random_frame):
    scored = spark.createDataFrame(random_frame, schema=SCORED)
    auc = by_setting(metrics.auc_roc(scored, by=("setting",)))
    ap = by_setting(metrics.average_precision(scored, by=("setting",)))
    assert sorted(auc) == sorted(ap) == ["a", "b", "c"]
    for setting, rows in random_frame.groupby("setting"):
        assert rows["score"].nunique() < len(rows) / 5  # the data really has ties
        assert auc[setting]["auc_roc"] == pytest.approx(roc_auc_score(rows["tx_fraud"], rows["score"]),
                                                        abs=TOLERANCE, rel=0)
        assert ap[setting]["average_precision"] == pytest.approx(
            average_precision_score(rows["tx_fraud"], rows["score"]), abs=TOLERANCE, rel=0)


def test_average_precision_is_the_step_sum_not_the_trapezoid(spark):
    # positives at 0.9 and 0.5, negatives at 0.7 and 0.1: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6; a trapezoid gives less.
    scored = spark.createDataFrame([(0.9, 1), (0.7, 0), (0.5, 1), (0.1, 0)], "score double, tx_fraud int")
    assert metrics.average_precision(scored).collect()[0]["average_precision"] == pytest.approx(5 / 6, abs=TOLERANCE)
    # pairs (positive above negative): (0.9, 0.7), (0.9, 0.1), (0.5, 0.1) of 4 -> 0.75
    assert metrics.auc_roc(scored).collect()[0]["auc_roc"] == pytest.approx(0.75, abs=TOLERANCE)


def test_a_group_with_one_class_has_null_auc_and_a_group_without_positives_null_ap(spark):
    scored = spark.createDataFrame(
        [("mixed", 0.8, 1), ("mixed", 0.3, 0), ("negatives", 0.6, 0), ("negatives", 0.2, 0), ("positives", 0.4, 1)],
        "setting string, score double, tx_fraud int")
    expected_auc = spark.createDataFrame([("mixed", 1.0), ("negatives", None), ("positives", None)],
                                         "setting string, auc_roc double")
    expected_ap = spark.createDataFrame([("mixed", 1.0), ("negatives", None), ("positives", 1.0)],
                                        "setting string, average_precision double")
    assert_df_equality(metrics.auc_roc(scored, by=("setting",)), expected_auc,
                       ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(metrics.average_precision(scored, by=("setting",)), expected_ap,
                       ignore_row_order=True, ignore_nullable=True)


HAND_ROWS = [
    # day 1: card 1 max 0.9 (fraud); card 2 max 0.6 over two rows (no fraud); card 3 0.6 (fraud).
    # Ranking 1, 2, 3 (tie 2-3 broken by the smaller id) -> top 2 = {1, 2} -> CP = 1/2. Detected: {1}.
    ("x", 1, D1, 1, 0.9), ("x", 2, D1, 0, 0.2), ("x", 2, D1, 0, 0.6), ("x", 3, D1, 1, 0.6),
    # day 2: card 1 (0.95, no fraud) is dropped, detected on day 1; card 4 max score 0.5 from its genuine row,
    # max label 1 from its 0.1 fraud; card 6 0.45 fraud; card 3 0.4 genuine.
    # Ranking 4, 6, 3 -> top 2 = {4, 6} -> CP = 2/2 = 1 (with card 1 kept it would be 1/2). Detected: {1, 4, 6}.
    ("x", 1, D2, 0, 0.95), ("x", 4, D2, 0, 0.5), ("x", 4, D2, 1, 0.1), ("x", 6, D2, 1, 0.45), ("x", 3, D2, 0, 0.4),
    # day 3: card 4 dropped; only card 3 (fraud) remains, fewer than k -> CP = 1/2 (divided by k, not by 1).
    ("x", 4, D3, 1, 0.8), ("x", 3, D3, 1, 0.7),
    # setting y holds only x's day 2: nothing was detected before in y, so card 1 stays -> top {1, 4} -> CP = 1/2.
    ("y", 1, D2, 0, 0.95), ("y", 4, D2, 0, 0.5), ("y", 4, D2, 1, 0.1), ("y", 6, D2, 1, 0.45), ("y", 3, D2, 0, 0.4),
]


def test_card_precision_daily_on_a_hand_made_example(spark):
    scored = spark.createDataFrame(HAND_ROWS, schema=SCORED)
    expected = spark.createDataFrame(
        [("x", D1, 0.5), ("x", D2, 1.0), ("x", D3, 0.5), ("y", D2, 0.5)],
        "setting string, tx_date date, card_precision_at_k double")
    result = metrics.card_precision_at_k_daily(scored, k=K, by=("setting",))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_card_precision_is_the_mean_over_days_and_works_without_by(spark):
    scored = spark.createDataFrame(HAND_ROWS, schema=SCORED).filter("setting = 'x'")
    expected = spark.createDataFrame([((0.5 + 1.0 + 0.5) / 3,)], "card_precision_at_k double")
    assert_approx_df_equality(metrics.card_precision_at_k(scored, k=K), expected, TOLERANCE, ignore_nullable=True)


def reference_card_precision(frame: pd.DataFrame, k: int, remove_detected: bool = True) -> pd.DataFrame:
    """Handbook §4, directly: per setting, days ascending, drop earlier detections, max per card, top k, / k."""
    out = []
    for setting, rows in frame.groupby("setting"):
        detected = set()
        for day in sorted(rows["tx_date"].unique()):
            today = rows[(rows["tx_date"] == day) & ~rows["customer_id"].isin(detected)]
            cards = today.groupby("customer_id", as_index=False).agg(s=("score", "max"), y=("tx_fraud", "max"))
            top = cards.sort_values(["s", "customer_id"], ascending=[False, True]).head(k)
            out.append((setting, day, top["y"].sum() / k))
            if remove_detected:
                detected |= set(top.loc[top["y"] == 1, "customer_id"])
    return pd.DataFrame(out, columns=["setting", "tx_date", "card_precision_at_k"])


def test_card_precision_daily_equals_a_direct_pandas_implementation(spark):
    frame = random_scored(seed=5, rows=1500, cards=40, days=5)
    k = 4
    expected = reference_card_precision(frame, k)
    # the example exercises the removal: without it the answer would differ
    assert not np.allclose(expected["card_precision_at_k"],
                           reference_card_precision(frame, k, remove_detected=False)["card_precision_at_k"])
    result = (metrics.card_precision_at_k_daily(spark.createDataFrame(frame, schema=SCORED), k=k, by=("setting",))
              .toPandas().sort_values(["setting", "tx_date"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(result, expected, check_exact=False, rtol=0, atol=TOLERANCE, check_dtype=False)


def test_ranking_metrics_joins_the_three_metrics_per_group(spark, random_frame):
    scored = spark.createDataFrame(random_frame, schema=SCORED)
    result = metrics.ranking_metrics(scored, k=5, by=("setting",))
    parts = (metrics.auc_roc(scored, by=("setting",))
             .join(metrics.average_precision(scored, by=("setting",)), on="setting", how="inner")
             .join(metrics.card_precision_at_k(scored, k=5, by=("setting",)), on="setting", how="inner"))
    assert result.columns == ["setting", "auc_roc", "average_precision", "card_precision_at_k"]
    assert_approx_df_equality(result, parts, TOLERANCE, ignore_row_order=True, ignore_nullable=True)


def test_a_null_group_value_is_a_group_of_its_own(spark):
    rows = [(None, 1, D1, 1, 0.9), (None, 2, D1, 0, 0.4), ("x", 1, D1, 0, 0.9), ("x", 2, D1, 1, 0.4)]
    result = metrics.ranking_metrics(spark.createDataFrame(rows, schema=SCORED), k=1, by=("setting",))
    expected = spark.createDataFrame([(None, 1.0, 1.0, 1.0), ("x", 0.0, 0.5, 0.0)],
                                     "setting string, auc_roc double, average_precision double, "
                                     "card_precision_at_k double")
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_threshold_table_counts_score_at_or_above_the_threshold_as_positive(spark):
    scored = spark.createDataFrame(
        [("a", 0.9, 1), ("a", 0.8, 0), ("a", 0.8, 1), ("a", 0.4, 0), ("a", 0.1, 1), ("a", 0.1, 0),
         ("b", 0.7, 0), ("b", 0.2, 0)],
        "setting string, score double, tx_fraud int")
    result = metrics.threshold_table(scored, [0.0, 0.8, 0.95], by=("setting",))
    expected = spark.createDataFrame([
        ("a", 0.0, 3, 3, 0, 0, 1.0, 1.0, 0.5),
        ("a", 0.8, 2, 1, 2, 1, 2 / 3, 1 / 3, 2 / 3),  # 0.8 itself is flagged
        ("a", 0.95, 0, 0, 3, 3, 0.0, 0.0, None),  # nothing flagged: no precision
        ("b", 0.0, 0, 2, 0, 0, None, 1.0, 0.0),  # no positives: no tpr
        ("b", 0.8, 0, 0, 2, 0, None, 0.0, None),
        ("b", 0.95, 0, 0, 2, 0, None, 0.0, None),
    ], "setting string, threshold double, tp long, fp long, tn long, fn long, tpr double, fpr double, "
       "precision double")
    assert_approx_df_equality(result, expected, TOLERANCE, ignore_row_order=True, ignore_nullable=True)


def test_score_histogram_bins_edges_and_empty_bins(spark):
    scored = spark.createDataFrame(
        [(0.0, 0), (0.25, 0), (0.3, 0), (0.99, 0), (1.0, 1), (0.5, 1), (1.5, 1), (-0.1, 0)],
        "score double, tx_fraud int")
    result = metrics.score_histogram(scored, bins=4)
    expected = spark.createDataFrame([
        (0, 0, 0.0, 0.25, 1), (0, 1, 0.25, 0.5, 2), (0, 2, 0.5, 0.75, 0), (0, 3, 0.75, 1.0, 1),
        (1, 0, 0.0, 0.25, 0), (1, 1, 0.25, 0.5, 0), (1, 2, 0.5, 0.75, 1), (1, 3, 0.75, 1.0, 1),  # 1.0 in the last bin
    ], "tx_fraud int, bin int, lower double, upper double, count long")  # 1.5 and -0.1 are in no bin
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_score_histogram_bins_follow_the_edges_not_the_rounded_product(spark):
    # 0.29 * 100 = 28.999999999999996 in floating point, but 0.29 == 29 / 100: bin 29, not 28.
    # The double just below 0.05 times 100 rounds to 5.0, but it is below 5 / 100: bin 4, not 5.
    below_five_hundredths = float(np.nextafter(0.05, 0))
    scored = spark.createDataFrame([("g", 0.29, 0), ("g", below_five_hundredths, 0)],
                                   "setting string, score double, tx_fraud int")
    result = metrics.score_histogram(scored, bins=100, by=("setting",)).filter("count > 0")
    expected = spark.createDataFrame([("g", 0, 4, 0.04, 0.05, 1), ("g", 0, 29, 0.29, 0.3, 1)],
                                     "setting string, tx_fraud int, bin int, lower double, upper double, count long")
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)
