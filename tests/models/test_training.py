"""Grid planning, fold summaries and the choice of a setting."""
from __future__ import annotations

import pytest

from models.training import choose, fit_plans, summarize


def test_settings_that_differ_only_in_trees_share_the_longest_fit():
    settings = {0: {"maxIter": 5, "maxDepth": 2}, 1: {"maxIter": 10, "maxDepth": 2}, 2: {"maxIter": 5, "maxDepth": 3},
                3: {"maxIter": 5, "maxDepth": 2, "subsamplingRate": 0.5},
                4: {"maxIter": 10, "maxDepth": 2, "subsamplingRate": 0.5}}
    plans = fit_plans(settings)
    assert ({"maxIter": 10, "maxDepth": 2}, [(0, 5), (1, 10)]) in plans
    assert ({"maxIter": 5, "maxDepth": 3}, [(2, 5)]) in plans
    # subsampled fits draw rows per tree: no prefix sharing
    assert ({"maxIter": 5, "maxDepth": 2, "subsamplingRate": 0.5}, [(3, 5)]) in plans
    assert len(plans) == 4


ROWS = [
    {"setting": 0, "fold": 1, "auc_roc": 0.8, "average_precision": 0.5, "card_precision_at_k": 0.2},
    {"setting": 0, "fold": 0, "auc_roc": 0.9, "average_precision": 0.7, "card_precision_at_k": 0.3},
    {"setting": 1, "fold": 0, "auc_roc": 0.7, "average_precision": 0.6, "card_precision_at_k": None},
    {"setting": 1, "fold": 1, "auc_roc": 0.8, "average_precision": 0.6, "card_precision_at_k": 0.1},
]


def test_the_summary_is_mean_and_sample_std_over_folds_in_fold_order():
    summary = summarize(ROWS)
    assert summary[0]["auc_roc"]["folds"] == [0.9, 0.8]
    assert summary[0]["auc_roc"]["mean"] == pytest.approx(0.85)
    assert summary[0]["auc_roc"]["std"] == pytest.approx(0.0707106781)
    assert summary[1]["card_precision_at_k"] == {"mean": 0.1, "std": 0.0, "folds": [None, 0.1]}


def test_the_best_mean_wins_and_a_tie_goes_to_the_earlier_setting():
    summary = summarize(ROWS)
    assert choose(summary, "auc_roc") == 0
    assert choose(summary, "average_precision") == 0  # 0.6 each: the earlier setting
    assert choose(summary, "card_precision_at_k") == 0
