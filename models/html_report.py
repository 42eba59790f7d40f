"""A scoring run's report as one self-contained HTML file (figures embedded as PNG), readable without a server:
alerts per day, the score histogram and, where labels are known, the precision-recall curve and the queue's
precision. Built from small aggregates of the scored table, never from its rows.
"""
from __future__ import annotations

import base64
import html
import io
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pyspark.sql import DataFrame, functions as F  # noqa: E402

from models.metrics import score_histogram, threshold_table  # noqa: E402
from models.report_links import data_docs_link  # noqa: E402

THRESHOLDS = [i / 100 for i in range(101)]


def png(figure) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _daily_figure(daily: list[dict]) -> str:
    figure, ax = plt.subplots(figsize=(8, 3.5))
    days = [str(r["tx_date"]) for r in daily]
    ax.bar(days, [r["alerted_cards"] for r in daily], label="queued cards")
    ax.plot(days, [r["compromised_cards"] or 0 for r in daily], color="tab:red", marker="o",
            label="of which compromised (known labels)")
    ax.set(title="Investigators' queue per day", ylabel="cards")
    ax.tick_params(axis="x", rotation=45)
    ax.legend()
    return png(figure)


def _histogram_figure(bins: list[dict], label: str) -> str:
    figure, ax = plt.subplots(figsize=(8, 3.5))
    for value, name in ((0, "genuine"), (1, "fraud"), (None, "label unknown")):
        rows = sorted((r for r in bins if r[label] == value), key=lambda r: r["bin"])
        if rows:
            ax.bar([r["lower"] for r in rows], [r["count"] for r in rows], width=rows[0]["upper"] - rows[0]["lower"],
                   align="edge", alpha=0.6, label=name)
    ax.set(yscale="log", xlabel="fraud probability", ylabel="transactions", title="Score distribution")
    ax.legend()
    return png(figure)


def _pr_figure(thresholds: list[dict]) -> str:
    figure, ax = plt.subplots(figsize=(5, 4))
    kept = sorted((r for r in thresholds if r["precision"] is not None), key=lambda r: -r["threshold"])
    ax.step([r["tpr"] for r in kept], [r["precision"] for r in kept], where="post", marker=".")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="Precision-recall (known labels)")
    return png(figure)


def build(scored: DataFrame, queue: DataFrame, summary: dict) -> str:
    """The report's HTML for one run (`scored` and `queue` restricted to the run's dates)."""
    daily = [r.asDict() for r in queue.groupBy("tx_date").agg(
        F.count(F.lit(1)).alias("alerted_cards"), F.sum("known_fraud").alias("compromised_cards"))
        .orderBy("tx_date").collect()]
    bins = [r.asDict() for r in score_histogram(scored.select("tx_fraud", F.col("fraud_probability").alias(
        "score")).na.fill({"tx_fraud": -1}), 50).collect()]
    for row in bins:
        row["tx_fraud"] = None if row["tx_fraud"] == -1 else row["tx_fraud"]
    labelled = scored.where(F.col("tx_fraud").isNotNull()).select("tx_fraud", F.col("fraud_probability").alias("score"))
    thresholds = [r.asDict() for r in threshold_table(labelled, THRESHOLDS).collect()]
    figures = [_daily_figure(daily), _histogram_figure(bins, "tx_fraud")]
    if any(r["tp"] for r in thresholds):
        figures.append(_pr_figure(thresholds))
    rows = "".join(f"<tr><td>{html.escape(str(d['tx_date']))}</td><td>{d['alerted_cards']}</td>"
                   f"<td>{'' if d['compromised_cards'] is None else d['compromised_cards']}</td></tr>" for d in daily)
    images = "".join(f'<p><img alt="figure" src="data:image/png;base64,{png}"></p>' for png in figures)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Scoring run {html.escape(summary['run_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 10px;text-align:right}}</style></head>
<body><h1>Scoring run {html.escape(summary['run_id'])}: {summary['first_date']} to {summary['last_date']}</h1>
<pre>{html.escape(json.dumps(summary, indent=2, default=str))}</pre>
{data_docs_link(summary)}
<h2>Queue per day</h2><table><tr><th>date</th><th>queued cards</th><th>compromised (known)</th></tr>{rows}</table>
{images}</body></html>"""
