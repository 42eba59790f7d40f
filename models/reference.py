"""The training reference saved with each model, and the drift of a day's data against it.

The reference is the final model's training block seen through a few numbers per column: 19 quantile edges (5 %
steps, deduplicated for discrete columns), the exact share of rows at or below each edge, and mean, std, min and
max. A day is then reduced, per column, to its own shares at the same edges (one aggregate over the day's rows),
from which:

- the population stability index, PSI = sum over bins (cur - ref) * ln(cur / ref), over the bins the edges cut
  (shares floored at `PSI_FLOOR` so that an empty bin stays finite);
- the Kolmogorov-Smirnov distance at the edges, max |CDF_cur - CDF_ref| (the KS statistic evaluated at the 19
  reference quantiles: a lower bound of the exact statistic, within one 5 % step of it).
Only the reference and one row per (day, column) reach the driver.
"""
from __future__ import annotations

import math
from typing import Sequence

from pyspark.sql import DataFrame, functions as F

QUANTILES = tuple(i / 20 for i in range(1, 20))
RELATIVE_ERROR = 0.001
PSI_FLOOR = 1e-4
SCORE = "fraud_probability"


def _cumulative_sql(column: str, edges: Sequence[float], prefix: str) -> list[str]:
    # exact literals: the shortest repr of a float reads back as the same double
    return [f"count_if(`{column}` <= CAST('{float(edge)!r}' AS DOUBLE)) AS {prefix}{i}" for i, edge in enumerate(edges)]


def build(df: DataFrame, columns: Sequence[str], days: int) -> dict:
    """The reference of `columns` over `df` (a training block of `days` days)."""
    quantiles = df.approxQuantile(list(columns), list(QUANTILES), RELATIVE_ERROR)
    edges = {c: sorted(set(float(v) for v in q)) for c, q in zip(columns, quantiles)}
    # one aggregate of ~23 figures a column, handed to Spark as SQL text in one call: built as Column objects it
    # took seconds of Python-to-JVM calls for the 38 columns of the default model alone
    stats = ["count(1) AS rows"]
    for i, c in enumerate(columns):
        stats += [f"avg(`{c}`) AS mean_{i}", f"stddev(`{c}`) AS std_{i}", f"min(`{c}`) AS min_{i}",
                  f"max(`{c}`) AS max_{i}", *_cumulative_sql(c, edges[c], f"cum_{i}_")]
    row = df.selectExpr(*stats).first()
    rows = row["rows"]
    profile = {"rows": rows, "days": days, "rows_per_day": rows / days, "columns": {}}
    for i, c in enumerate(columns):
        profile["columns"][c] = {
            "edges": edges[c], "cumulative": [row[f"cum_{i}_{j}"] / rows for j in range(len(edges[c]))],
            "mean": float(row[f"mean_{i}"]), "std": float(row[f"std_{i}"] or 0.0),
            "min": float(row[f"min_{i}"]), "max": float(row[f"max_{i}"]),
        }
    return profile


def daily_shares(df: DataFrame, reference: dict, columns: Sequence[str], day: str = "tx_date") -> list[dict]:
    """One dict per day: rows, and per column its mean and its shares at the reference edges."""
    aggregates = ["count(1) AS rows"]
    for i, c in enumerate(columns):
        aggregates += [f"avg(`{c}`) AS mean_{i}",
                       *_cumulative_sql(c, reference["columns"][c]["edges"], f"cum_{i}_")]
    days = []
    for row in df.groupBy(day).agg(*map(F.expr, aggregates)).orderBy(day).collect():  # one row a day
        rows = row["rows"]
        shares = {c: [row[f"cum_{i}_{j}"] / rows for j in range(len(reference["columns"][c]["edges"]))]
                  for i, c in enumerate(columns)}
        days.append({day: row[day], "rows": rows, "shares": shares,
                     "means": {c: row[f"mean_{i}"] for i, c in enumerate(columns)}})
    return days


def _bins(cumulative: Sequence[float]) -> list[float]:
    points = [0.0, *cumulative, 1.0]
    return [max(b - a, PSI_FLOOR) for a, b in zip(points, points[1:])]


def psi(reference_cumulative: Sequence[float], current_cumulative: Sequence[float]) -> float:
    return sum((c - r) * math.log(c / r) for r, c in zip(_bins(reference_cumulative), _bins(current_cumulative)))


def ks(reference_cumulative: Sequence[float], current_cumulative: Sequence[float]) -> float:
    return max((abs(c - r) for r, c in zip(reference_cumulative, current_cumulative)), default=0.0)
