"""The training reference saved with each model, and the drift of a day's data against it.

The reference is the final model's training block seen through a few numbers per column: 19 quantile edges (5 %
steps, deduplicated for discrete columns), the exact share of rows at or below each edge, and mean, std, min and
max. A day is then reduced, per column, to its own shares at the same edges (counts of the day's rows per column
and bin), from which:

- the population stability index, PSI = sum over bins (cur - ref) * ln(cur / ref), over the bins the edges cut
  (shares floored at `PSI_FLOOR` so that an empty bin stays finite);
- the Kolmogorov-Smirnov distance at the edges, max |CDF_cur - CDF_ref| (the KS statistic evaluated at the 19
  reference quantiles: a lower bound of the exact statistic, within one 5 % step of it).
Only the reference and at most one row per (day, column, bin) reach the driver.
"""
from __future__ import annotations

import math
from typing import Sequence

from pyspark.sql import DataFrame, functions as F

QUANTILES = tuple(i / 20 for i in range(1, 20))
RELATIVE_ERROR = 0.001
PSI_FLOOR = 1e-4
SCORE = "fraud_probability"


def _long(df: DataFrame, columns: Sequence[str], *keep: str) -> DataFrame:
    """`keep`, _column (the index in `columns`) and _value (as double): one row per row and column."""
    pairs = ", ".join(f"{i}, CAST(`{c}` AS DOUBLE)" for i, c in enumerate(columns))
    return df.selectExpr(*[f"`{k}`" for k in keep], f"stack({len(columns)}, {pairs}) AS (_column, _value)")


def _with_bin(long: DataFrame, edges: Sequence[Sequence[float]]) -> DataFrame:
    """Non-null values with _bin, the number of their column's edges below them: a value is at or below edge j
    exactly when _bin <= j (edges ascending)."""
    return _binned(long, edges).where("_value IS NOT NULL")


def _binned(long: DataFrame, edges: Sequence[Sequence[float]]) -> DataFrame:
    """`long` with _bin as in `_with_bin` (a null value lands in bin 0: no edge is below it)."""
    # exact literals: the shortest repr of a float reads back as the same double
    arrays = ", ".join("array(" + ", ".join(f"CAST('{float(e)!r}' AS DOUBLE)" for e in column) + ")"
                       for column in edges)
    return long.selectExpr(
        "*", f"size(filter(element_at(array({arrays}), _column + 1), edge -> edge < _value)) AS _bin")


def _column_stats(bins: list) -> dict:
    """One column's rows, mean, sample std, min and max from its (column, bin) groups (rows, values, sum, min,
    max, var_pop of the values): the bins' variances combined exactly (Chan et al.), not from a sum of squares."""
    rows = sum(b["rows"] for b in bins)
    known = [b for b in bins if b["values"]]
    values = sum(b["values"] for b in known)
    if not values:
        return {"rows": rows, "mean": None, "std": None, "min": None, "max": None}
    mean = sum(b["sum"] for b in known) / values
    squares = sum(b["var_pop"] * b["values"] + b["values"] * (b["sum"] / b["values"] - mean) ** 2 for b in known)
    return {"rows": rows, "mean": mean, "std": math.sqrt(squares / (values - 1)) if values > 1 else None,
            # NaN sorts above every number, as in Spark's min and max
            "min": min((b["min"] for b in known), key=_nan_last), "max": max((b["max"] for b in known), key=_nan_last)}


def _nan_last(value: float) -> tuple[bool, float]:
    return math.isnan(value), value


def _cumulative(counts: dict[int, int], edges: int, rows: int) -> list[float]:
    """The share of rows at or below each of `edges` edges, from the rows per bin."""
    shares, total = [], 0
    for j in range(edges):
        total += counts.get(j, 0)
        shares.append(total / rows)
    return shares


def build(df: DataFrame, columns: Sequence[str], days: int) -> dict:
    """The reference of `columns` over `df` (a training block of `days` days)."""
    quantiles = df.approxQuantile(list(columns), list(QUANTILES), RELATIVE_ERROR)
    edges = [sorted(set(float(v) for v in q)) for q in quantiles]
    # the columns as rows (column, value) in one pass: per column and bin the figures `_column_stats` combines
    # (an aggregate of ~23 figures a column instead took seconds to plan for the 38 columns of the default model)
    per_bin: dict = {}
    for r in _binned(_long(df, columns), edges).groupBy("_column", "_bin").agg(
            F.count(F.lit(1)).alias("rows"), F.count("_value").alias("values"), F.sum("_value").alias("sum"),
            F.min("_value").alias("min"), F.max("_value").alias("max"),
            F.var_pop("_value").alias("var_pop")).collect():  # ~20 rows a column
        per_bin.setdefault(r["_column"], []).append(r.asDict())
    stats = {i: _column_stats(per_bin.get(i, [])) for i in range(len(columns))}
    rows = stats[0]["rows"]
    profile = {"rows": rows, "days": days, "rows_per_day": rows / days, "columns": {}}
    for i, c in enumerate(columns):
        profile["columns"][c] = {
            "edges": edges[i],
            "cumulative": _cumulative({b["_bin"]: b["values"] for b in per_bin.get(i, []) if b["values"]},
                                      len(edges[i]), rows),
            "mean": float(stats[i]["mean"]), "std": float(stats[i]["std"] or 0.0),
            "min": float(stats[i]["min"]), "max": float(stats[i]["max"]),
        }
    return profile


def daily_shares(df: DataFrame, reference: dict, columns: Sequence[str], day: str = "tx_date") -> list[dict]:
    """One dict per day: rows, and per column its mean and its shares at the reference edges."""
    edges = [reference["columns"][c]["edges"] for c in columns]
    long = _long(df, columns, day)
    stats = long.groupBy(day, "_column").agg(F.count(F.lit(1)).alias("rows"), F.avg("_value").alias("mean"))
    per_bin = _with_bin(long, edges).groupBy(day, "_column", "_bin").count()
    by_day: dict = {}
    for r in stats.collect():  # one row a (day, column)
        by_day.setdefault(r[day], {})[r["_column"]] = (r["rows"], r["mean"])
    bins: dict = {}
    for r in per_bin.collect():  # ~20 rows a (day, column)
        bins.setdefault((r[day], r["_column"]), {})[r["_bin"]] = r["count"]
    days = []
    for date in sorted(by_day):
        rows = by_day[date][0][0]
        days.append({day: date, "rows": rows,
                     "shares": {c: _cumulative(bins.get((date, i), {}), len(edges[i]), rows)
                                for i, c in enumerate(columns)},
                     "means": {c: by_day[date][i][1] for i, c in enumerate(columns)}})
    return days


def _bins(cumulative: Sequence[float]) -> list[float]:
    points = [0.0, *cumulative, 1.0]
    return [max(b - a, PSI_FLOOR) for a, b in zip(points, points[1:])]


def psi(reference_cumulative: Sequence[float], current_cumulative: Sequence[float]) -> float:
    return sum((c - r) * math.log(c / r) for r, c in zip(_bins(reference_cumulative), _bins(current_cumulative)))


def ks(reference_cumulative: Sequence[float], current_cumulative: Sequence[float]) -> float:
    return max((abs(c - r) for r, c in zip(reference_cumulative, current_cumulative)), default=0.0)
