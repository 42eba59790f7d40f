"""The monitoring table's trend as one self-contained HTML file (figures embedded as PNG), readable without a
server: drift of the inputs and of the score against their thresholds, volume, and ranking quality of the days
whose labels are mature, with the degraded days marked; a day whose labels are not mature says when they will be.
Built from the table's rows (one a day), never from transactions.
"""
from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from conf import MonitoringConf  # noqa: E402
from models.html_report import png, summary_table  # noqa: E402
from models.monitoring import labels_mature_on  # noqa: E402
from models.report_links import data_docs_link  # noqa: E402


def _dates_axis(ax, rows: list[dict]) -> None:
    """Date labels (at most about 20) under positions 0..n-1, and a red band on each degraded day."""
    for i, row in enumerate(rows):
        if row["status"] == "degraded":
            ax.axvspan(i - 0.5, i + 0.5, color="tab:red", alpha=0.15, linewidth=0)
    step = max(1, len(rows) // 20)
    ax.set_xticks(range(0, len(rows), step), [str(r["tx_date"]) for r in rows[::step]], rotation=60, fontsize=7)


def _drift_figure(rows: list[dict], limits: MonitoringConf) -> str:
    days = range(len(rows))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    top.plot(days, [r["max_feature_psi"] for r in rows], marker=".", label="max PSI over inputs")
    top.plot(days, [r["score_psi"] for r in rows], marker=".", label="score PSI")
    top.axhline(limits.psi_threshold, color="tab:red", linestyle=":", label="threshold")
    top.set(title="Population stability against the training reference", ylabel="PSI")
    bottom.plot(days, [r["max_feature_ks"] for r in rows], marker=".", label="max KS over inputs")
    bottom.plot(days, [r["score_ks"] for r in rows], marker=".", label="score KS")
    bottom.axhline(limits.ks_threshold, color="tab:red", linestyle=":", label="threshold")
    bottom.set(ylabel="KS distance")
    for ax in (top, bottom):
        ax.legend(fontsize=8)
        _dates_axis(ax, rows)
    return png(figure)


def _volume_and_quality_figure(rows: list[dict], limits: MonitoringConf) -> str:
    """Volume, and below it the ranking quality of the mature days; volume alone when none is mature (the
    quality panel would be empty: the page says when the labels mature instead)."""
    days, quality = range(len(rows)), any(r["labels_mature"] for r in rows)
    figure, axes = plt.subplots(2 if quality else 1, 1, figsize=(10, 6 if quality else 3.5), sharex=True,
                                squeeze=False)
    top = axes[0][0]
    top.plot(days, [r["volume_ratio"] for r in rows], marker=".", label="rows / reference rows a day")
    for bound in limits.volume_ratio_bounds:
        top.axhline(bound, color="tab:red", linestyle=":")
    top.set(title="Volume and ranking quality (labels mature)" if quality else "Volume", ylabel="volume ratio")
    if quality:
        bottom = axes[1][0]
        for metric in ("auc_roc", "average_precision", "card_precision_at_k"):
            bottom.plot(days, [r[metric] for r in rows], marker=".", label=metric)
        bottom.set(ylabel="metric", ylim=(0, 1.02))
    for ax in (row[0] for row in axes):
        ax.legend(fontsize=8)
        _dates_axis(ax, rows)
    return png(figure)


def _pending(rows: list[dict], delay_days: int) -> str:
    """The quality panel's words for the days whose labels are not mature: when they will be."""
    waiting = [r for r in rows if not r["labels_mature"]]
    if not waiting:
        return ""
    items = "".join(f"<li>{html.escape(str(r['tx_date']))}: labels mature on "
                    f"{labels_mature_on(r['tx_date'], delay_days)}</li>" for r in waiting)
    return f'<h2>Ranking quality not measured yet</h2><ul class="pending">{items}</ul>'


def _table(rows: list[dict], delay_days: int) -> str:
    columns = ("tx_date", "status", "rows", "volume_ratio", "max_feature_psi", "max_psi_feature", "score_psi",
               "average_precision", "card_precision_at_k", "breaches")
    quality = ("average_precision", "card_precision_at_k")

    def cell(row: dict, column: str) -> str:
        value = row[column]
        if column in quality and not row["labels_mature"]:
            return f"labels mature on {labels_mature_on(row['tx_date'], delay_days)}"
        if isinstance(value, float):
            return f"{value:.3f}"
        return html.escape("; ".join(value) if isinstance(value, list) else str(value))
    body = "".join("<tr>" + "".join(f"<td>{cell(r, c)}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{''.join(f'<th>{c}</th>' for c in columns)}</tr>{body}</table>"


def build(rows: list[dict], limits: MonitoringConf, summary: dict, delay_days: int) -> str:
    """The report of `rows` (the monitoring table, one row a day, in date order) after the run `summary`; a day's
    labels mature `delay_days` after it."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Fraud monitoring</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:12px}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Fraud model monitoring</h1>
{summary_table({k: v for k, v in summary.items() if k != 'breaches'})}
{data_docs_link(summary)}
<img src="data:image/png;base64,{_drift_figure(rows, limits)}" alt="drift trend">
<img src="data:image/png;base64,{_volume_and_quality_figure(rows, limits)}" alt="volume and quality trend">
{_pending(rows, delay_days)}
<h2>Days</h2>{_table(rows, delay_days)}
</body></html>"""
