"""Ranking metrics of scored transactions (handbook §4), computed in Spark, exactly, per group of `by` columns.

- AUC ROC and average precision equal scikit-learn's `roc_auc_score` and `average_precision_score`, ties
  included: scores are aggregated to one row per distinct (group, score) with its positives and negatives, a
  cumulative window gives the confusion counts at each distinct threshold, and one sum gives the trapezoid area
  (ROC) or the step sum of precision x recall gain (AP; not the trapezoid of Spark's `areaUnderPR`).
- Card precision @ k removes cards detected on earlier days of the group, which is sequential over days. It stays
  exact and distributed because only a bounded set of cards can reach a day's top k: at most k cards are detected
  per earlier day, so the top k of the i-th day (1-based) after removal lie in its top k*i before removal. Those
  candidates (at most k*D*(D+1)/2 per group of D days, whatever the data size) go through the sequential removal
  in `applyInPandas`, one group per call.
- Threshold tables and score histograms are single aggregations.

Only aggregates reach the driver, never scores. Rows with a null in a column a metric reads are not counted.
"""
from __future__ import annotations

import operator
from functools import reduce
from typing import Callable, Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame, functions as F, types as T, Window as W

AUC_ROC, AVERAGE_PRECISION, CARD_PRECISION = "auc_roc", "average_precision", "card_precision_at_k"
_ALL_ROWS = "_all_rows"  # the one group when `by` is empty: every window and groupBy needs a partition key
_POS, _NEG, _TP, _FP = "_positives", "_negatives", "_true_positives", "_false_positives"
_MAX_SCORE, _MAX_LABEL, _DAY_INDEX, _RANK = "_max_score", "_max_label", "_day_index", "_rank"


def _grouped(scored: DataFrame, by: Sequence[str], *needed: str) -> tuple[DataFrame, list[str]]:
    """The rows with every needed column set, and the grouping columns (a constant one when `by` is empty)."""
    usable = scored.filter(reduce(operator.and_, [F.col(c).isNotNull() for c in needed]))
    if by:
        return usable, list(by)
    return usable.select("*", F.lit(0).alias(_ALL_ROWS)), [_ALL_ROWS]


def _join_on_groups(left: DataFrame, right: DataFrame, keys: Sequence[str], how: str) -> DataFrame:
    """Join on `keys` with null equal to null, as groupBy treats it (a null `by` value is a group of its own)."""
    renamed = right.select(*[F.col(c).alias(f"_right_{c}") for c in keys], *[c for c in right.columns if c not in keys])
    condition = [F.col(c).eqNullSafe(F.col(f"_right_{c}")) for c in keys]
    return left.join(renamed, on=condition, how=how).drop(*[f"_right_{c}" for c in keys])


def _score_curve(scored: DataFrame, groups: Sequence[str], label: str, score: str) -> DataFrame:
    """One row per (group, distinct score): positives and negatives at that score, and at that score or above."""
    down_the_scores = (W.partitionBy(*groups).orderBy(F.col(score).desc())
                       .rowsBetween(W.unboundedPreceding, W.currentRow))
    per_score = scored.groupBy(*groups, score).agg(
        F.sum(F.col(label).cast("long")).alias(_POS),
        (F.count(F.lit(1)) - F.sum(F.col(label).cast("long"))).alias(_NEG),
    )
    return per_score.select(
        *groups, _POS, _NEG,
        F.sum(_POS).over(down_the_scores).alias(_TP),
        F.sum(_NEG).over(down_the_scores).alias(_FP),
    )


def _curve_metrics(scored: DataFrame, groups: Sequence[str], label: str, score: str) -> DataFrame:
    """AUC ROC and average precision per group, both from one pass over the score curve."""
    # Trapezoid over the threshold step at each distinct score, times 2 to stay in exact integers:
    # negatives_here * (tp_before + tp_after) = negatives_here * (2 * tp_after - positives_here).
    twice_roc_area = F.sum(F.col(_NEG) * (2 * F.col(_TP) - F.col(_POS)))
    # Recall gain positives_here / P times the precision at this threshold, P factored out.
    precision_sum = F.sum(F.col(_POS) * F.col(_TP) / (F.col(_TP) + F.col(_FP)))
    totals = _score_curve(scored, groups, label, score).groupBy(*groups).agg(
        F.sum(_POS).alias(_POS), F.sum(_NEG).alias(_NEG),
        twice_roc_area.alias("_twice_area"), precision_sum.alias("_precision_sum"),
    )
    has_positives, has_negatives = F.col(_POS) > 0, F.col(_NEG) > 0
    return totals.select(
        *groups,
        F.when(has_positives & has_negatives,
               F.col("_twice_area") / (2 * F.col(_POS).cast("double") * F.col(_NEG))).alias(AUC_ROC),
        F.when(has_positives, F.col("_precision_sum") / F.col(_POS)).alias(AVERAGE_PRECISION),
    )


def auc_roc(scored: DataFrame, by: Sequence[str] = (), label: str = "tx_fraud", score: str = "score") -> DataFrame:
    """Columns *by, auc_roc: scikit-learn's `roc_auc_score` per group; null unless the group has both classes."""
    rows, groups = _grouped(scored, by, label, score)
    return _curve_metrics(rows, groups, label, score).select(*by, AUC_ROC)


def average_precision(scored: DataFrame, by: Sequence[str] = (), label: str = "tx_fraud",
                      score: str = "score") -> DataFrame:
    """Columns *by, average_precision: scikit-learn's `average_precision_score`; null without positives."""
    rows, groups = _grouped(scored, by, label, score)
    return _curve_metrics(rows, groups, label, score).select(*by, AVERAGE_PRECISION)


def _card_candidates(rows: DataFrame, k: int, groups: Sequence[str], card: str, day: str, label: str,
                     score: str) -> DataFrame:
    """Per (group, day, card): max label, day index (1-based) and rank, kept only where rank <= k * day index."""
    card_days = rows.groupBy(*groups, day, card).agg(
        F.max(score).alias(_MAX_SCORE), F.max(F.col(label).cast("int")).alias(_MAX_LABEL))
    # Days are few: number them on the small distinct table, not with a window over all card-days of a group.
    day_order = W.partitionBy(*groups).orderBy(day).rowsBetween(W.unboundedPreceding, W.currentRow)
    days = card_days.select(*groups, day).distinct().select(
        *groups, day, F.row_number().over(day_order).alias(_DAY_INDEX))
    card_order = (W.partitionBy(*groups, day).orderBy(F.col(_MAX_SCORE).desc(), F.col(card).asc())
                  .rowsBetween(W.unboundedPreceding, W.currentRow))
    ranked = card_days.select(*groups, day, card, _MAX_LABEL, F.row_number().over(card_order).alias(_RANK))
    return (_join_on_groups(ranked, days, [*groups, day], how="inner")
            .filter(F.col(_RANK) <= F.col(_DAY_INDEX) * k))


def _sequential_removal(k: int, groups: Sequence[str], card: str, day: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def card_precision_of_days(candidates: pd.DataFrame) -> pd.DataFrame:
        """One group's candidates -> one row per day: CP@k after removing cards detected on earlier days."""
        detected: set = set()
        precisions = []
        for _, today in candidates.sort_values([_DAY_INDEX, _RANK]).groupby(_DAY_INDEX, sort=True):
            top = today[~today[card].isin(detected)].head(k)
            precisions.append(float(top[_MAX_LABEL].sum()) / k)
            detected.update(top.loc[top[_MAX_LABEL] == 1, card])
        days = candidates.drop_duplicates(_DAY_INDEX).sort_values(_DAY_INDEX)
        return days[[*groups, day]].assign(**{CARD_PRECISION: precisions})
    return card_precision_of_days


def _card_precision_daily(scored: DataFrame, k: int, by: Sequence[str], card: str, day: str, label: str,
                          score: str) -> tuple[DataFrame, list[str]]:
    if k < 1:
        raise ValueError(f"card precision @ k: k must be a positive integer, got {k}")
    rows, groups = _grouped(scored, by, card, day, label, score)
    candidates = _card_candidates(rows, k, groups, card, day, label, score)
    schema = T.StructType([*[candidates.schema[c] for c in [*groups, day]],
                           T.StructField(CARD_PRECISION, T.DoubleType(), nullable=False)])
    daily = candidates.groupBy(*groups).applyInPandas(_sequential_removal(k, groups, card, day), schema=schema)
    return daily, groups


def card_precision_at_k_daily(scored: DataFrame, k: int, by: Sequence[str] = (), card: str = "customer_id",
                              day: str = "tx_date", label: str = "tx_fraud", score: str = "score") -> DataFrame:
    """Columns *by, <day>, card_precision_at_k: CP@k of each day of each group (handbook §4).

    Days of a group in ascending order; cards detected (in the top k with max label 1) on earlier days of the group
    are dropped; each card gets its max score and max label of the day; cards ranked by max score desc, then card
    id asc; CP@k = cards with max label 1 among the top k / k, even when fewer than k cards remain."""
    daily, _ = _card_precision_daily(scored, k, by, card, day, label, score)
    return daily.select(*by, day, CARD_PRECISION)


def _card_precision_mean(scored: DataFrame, k: int, by: Sequence[str], card: str, day: str, label: str,
                         score: str) -> tuple[DataFrame, list[str]]:
    daily, groups = _card_precision_daily(scored, k, by, card, day, label, score)
    return daily.groupBy(*groups).agg(F.avg(CARD_PRECISION).alias(CARD_PRECISION)), groups


def card_precision_at_k(scored: DataFrame, k: int, by: Sequence[str] = (), card: str = "customer_id",
                        day: str = "tx_date", label: str = "tx_fraud", score: str = "score") -> DataFrame:
    """Columns *by, card_precision_at_k: the mean over the group's days of `card_precision_at_k_daily`."""
    mean, _ = _card_precision_mean(scored, k, by, card, day, label, score)
    return mean.select(*by, CARD_PRECISION)


def ranking_metrics(scored: DataFrame, k: int, by: Sequence[str] = (), card: str = "customer_id",
                    day: str = "tx_date", label: str = "tx_fraud", score: str = "score") -> DataFrame:
    """Columns *by, auc_roc, average_precision, card_precision_at_k: the three metrics of §4, one row per group.

    Reads `scored` twice (curve and cards): cache it first if it is expensive to compute."""
    rows, groups = _grouped(scored, by, label, score)
    curve = _curve_metrics(rows, groups, label, score)
    cards, _ = _card_precision_mean(scored, k, by, card, day, label, score)
    return (_join_on_groups(curve, cards, groups, how="left")
            .select(*by, AUC_ROC, AVERAGE_PRECISION, CARD_PRECISION))


def threshold_table(scored: DataFrame, thresholds: Sequence[float], by: Sequence[str] = (), label: str = "tx_fraud",
                    score: str = "score") -> DataFrame:
    """Columns *by, threshold, tp, fp, tn, fn, tpr, fpr, precision; predicted positive = score >= threshold.

    tpr, fpr and precision are null when their denominator is 0. One aggregation whatever the number of thresholds."""
    if not thresholds:
        raise ValueError("threshold_table: thresholds is empty")
    rows, groups = _grouped(scored, by, label, score)
    is_fraud = F.col(label) == 1

    def at_threshold(t: float) -> str:
        # exact literals: the shortest repr of a float reads back as the same double
        flagged = f"`{score}` >= CAST('{float(t)!r}' AS DOUBLE)"
        return (f"named_struct('threshold', CAST('{float(t)!r}' AS DOUBLE), "
                f"'tp', count_if({flagged} AND `{label}` = 1), 'fp', count_if({flagged} AND NOT `{label}` = 1))")

    # the thresholds' aggregates go to Spark as SQL text in one call: built as Column objects, the 101 of a report
    # took seconds of Python-to-JVM calls
    per_group = rows.groupBy(*groups).agg(
        F.count(F.when(is_fraud, 1)).alias(_POS), F.count(F.when(~is_fraud, 1)).alias(_NEG),
        F.expr(f"array({', '.join(map(at_threshold, thresholds))})").alias("_at"),
    )
    counts = per_group.select(*groups, _POS, _NEG, F.inline("_at"))
    tn, fn = F.col(_NEG) - F.col("fp"), F.col(_POS) - F.col("tp")
    flagged = F.col("tp") + F.col("fp")
    return counts.select(
        *by, "threshold", "tp", "fp", tn.alias("tn"), fn.alias("fn"),
        F.when(F.col(_POS) > 0, F.col("tp") / F.col(_POS)).alias("tpr"),
        F.when(F.col(_NEG) > 0, F.col("fp") / F.col(_NEG)).alias("fpr"),
        F.when(flagged > 0, F.col("tp") / flagged).alias("precision"),
    )


def score_bin(score: Column, bins: int) -> Column:
    """The bin b of [b / bins, (b + 1) / bins) holding the score, 1.0 in the last bin; null outside [0, 1].

    floor(score * bins) can be one off at a bin edge (0.29 * 100 = 28.999...), so it is corrected against the
    edges themselves: a score equal to an edge always lands in the bin that starts there."""
    raw = F.floor(score * bins)
    on_edge = F.when((raw + 1) / bins <= score, raw + 1).when(raw / bins > score, raw - 1).otherwise(raw)
    in_unit_interval = (score >= 0) & (score <= 1)
    return F.when(in_unit_interval, F.least(on_edge, F.lit(bins - 1))).cast("int")


def score_histogram(scored: DataFrame, bins: int, by: Sequence[str] = (), label: str = "tx_fraud",
                    score: str = "score") -> DataFrame:
    """Columns *by, <label>, bin, lower, upper, count: every bin of [0, 1] for each (group, label) present,
    empty bins with count 0. Scores outside [0, 1] are not counted."""
    if bins < 1:
        raise ValueError(f"score_histogram: bins must be a positive integer, got {bins}")
    rows, groups = _grouped(scored, by, label, score)
    counts = (rows.select(*groups, label, score_bin(F.col(score), bins).alias("bin"))
              .filter(F.col("bin").isNotNull())
              .groupBy(*groups, label, "bin").agg(F.count(F.lit(1)).alias("count")))
    all_bins = counts.sparkSession.range(bins).select(F.col("id").cast("int").alias("bin"))
    every_bin = counts.select(*groups, label).distinct().join(all_bins, how="cross")
    return _join_on_groups(every_bin, counts, [*groups, label, "bin"], how="left").select(
        *by, label, "bin",
        (F.col("bin") / bins).alias("lower"), ((F.col("bin") + 1) / bins).alias("upper"),
        F.coalesce(F.col("count"), F.lit(0)).alias("count"),
    )
