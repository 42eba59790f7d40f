"""Drift measures against the training reference: PSI, KS, the reference itself and the breach rules."""
from __future__ import annotations

import datetime as dt
import math

import pytest

from conf import MonitoringConf
from models import monitoring, reference


def test_psi_of_identical_distributions_is_zero_and_grows_with_the_shift():
    ref = [0.25, 0.5, 0.75]
    assert reference.psi(ref, ref) == 0.0
    # bins 0.25 each against 0.10, 0.20, 0.30, 0.40: sum (c - r) ln(c / r)
    expected = sum((c - 0.25) * math.log(c / 0.25) for c in (0.1, 0.2, 0.3, 0.4))
    assert reference.psi(ref, [0.1, 0.3, 0.6]) == pytest.approx(expected)
    assert reference.psi(ref, [0.0, 0.0, 0.0]) > reference.psi(ref, [0.1, 0.3, 0.6])  # an empty bin stays finite


def test_ks_is_the_largest_gap_of_the_cumulative_shares():
    assert reference.ks([0.25, 0.5, 0.75], [0.2, 0.3, 0.7]) == pytest.approx(0.2)
    assert reference.ks([], []) == 0.0


def test_the_reference_holds_exact_shares_at_its_quantile_edges(spark):
    df = spark.createDataFrame([(float(v), 1 if v % 2 else 0) for v in range(1, 101)], "x double, flag int")
    profile = reference.build(df, ["x", "flag"], days=2)
    x = profile["columns"]["x"]
    assert profile["rows"] == 100 and profile["rows_per_day"] == 50
    assert x["edges"][0] == 5.0 and x["cumulative"][0] == 0.05 and x["edges"][-1] == 95.0
    assert (x["min"], x["max"], x["mean"]) == (1.0, 100.0, 50.5)
    assert profile["columns"]["flag"]["edges"] == [0.0, 1.0]  # a discrete column keeps its distinct edges
    assert profile["columns"]["flag"]["cumulative"] == [0.5, 1.0]


def test_the_reference_s_moments_are_spark_s_own_with_nulls_and_spread_values(spark):
    from pyspark.sql import functions as F

    data = [(float(v) * 37.5 % 101 - 50 if v % 7 else None, float(v % 3)) for v in range(1, 400)]
    df = spark.createDataFrame(data, "x double, k double")
    profile = reference.build(df, ["x", "k"], days=1)
    want = df.agg(F.count(F.lit(1)), F.avg("x"), F.stddev("x"), F.min("x"), F.max("x")).first()
    x = profile["columns"]["x"]
    assert profile["rows"] == want[0] == 399
    assert x["mean"] == pytest.approx(want[1], rel=1e-12) and x["std"] == pytest.approx(want[2], rel=1e-12)
    assert (x["min"], x["max"]) == (want[3], want[4])
    known = df.where(F.col("x").isNotNull())
    assert x["cumulative"][0] == known.where(F.col("x") <= x["edges"][0]).count() / 399  # shares count every row


def row(**changes) -> dict:
    base = {"feature_psi": {"a": 0.01, "b": 0.02}, "feature_ks": {"a": 0.01, "b": 0.02}, "score_psi": 0.01,
            "score_ks": 0.01, "volume_ratio": 1.0, "gx_success": True, "gx_failures": [], "labels_mature": True,
            "average_precision": 0.6}
    return {**base, **changes}


def test_a_day_within_every_threshold_has_no_breach():
    assert monitoring.breaches(row(), MonitoringConf()) == []


@pytest.mark.parametrize("changes, named", [
    ({"feature_psi": {"a": 0.3, "b": 0.0}}, "psi(a)=0.300>0.1"),
    ({"feature_ks": {"a": 0.0, "b": 0.15}}, "ks(b)=0.150>0.1"),
    ({"score_psi": 0.2}, "score_psi=0.200>0.1"),
    ({"volume_ratio": 1.5}, "volume_ratio=1.500 outside [0.8, 1.25]"),
    ({"gx_success": False, "gx_failures": ["expect_column_mean_to_be_between(a): 3.0 unexpected"]},
     "gx: expect_column_mean_to_be_between(a): 3.0 unexpected"),
])
def test_each_threshold_names_its_breach(changes, named):
    assert monitoring.breaches(row(**changes), MonitoringConf()) == [named]


def test_average_precision_breaches_only_when_configured_and_mature():
    limits = MonitoringConf(min_average_precision=0.7)
    assert monitoring.breaches(row(), limits) == ["average_precision=0.600<0.7"]
    assert monitoring.breaches(row(labels_mature=False), limits) == []
    assert monitoring.breaches(row(), MonitoringConf()) == []


def test_labels_are_mature_after_the_delay():
    days = [dt.date(2018, 5, d) for d in (10, 13, 14)]
    assert monitoring.mature_dates(days, dt.date(2018, 5, 20), 7) == days[:2]  # 10 and exactly 7 days old
