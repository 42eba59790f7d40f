"""Figures logged with each training run, drawn from small aggregates (never from the scores themselves)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a cluster or in CI
import matplotlib.pyplot as plt  # noqa: E402


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def roc_and_pr_curves(thresholds: list[dict], title: str, folder: Path) -> list[Path]:
    """ROC and precision-recall curves from a threshold table (rows with tpr, fpr, precision)."""
    rows = sorted(thresholds, key=lambda r: -r["threshold"])
    roc, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, *[r["fpr"] for r in rows], 1], [0, *[r["tpr"] for r in rows], 1], marker=".")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC — {title}")
    pr, ax2 = plt.subplots(figsize=(5, 5))
    kept = [r for r in rows if r["precision"] is not None]
    ax2.step([r["tpr"] for r in kept], [r["precision"] for r in kept], where="post", marker=".")
    ax2.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=f"Precision-recall — {title}")
    return [_save(roc, folder / "roc_curve.png"), _save(pr, folder / "pr_curve.png")]


def score_histogram(bins: list[dict], folder: Path, label_column: str) -> Path:
    figure, ax = plt.subplots(figsize=(7, 4))
    for label, name in ((0, "genuine"), (1, "fraud")):
        rows = sorted((r for r in bins if r[label_column] == label), key=lambda r: r["bin"])
        total = sum(r["count"] for r in rows) or 1
        ax.bar([r["lower"] for r in rows], [r["count"] / total for r in rows], width=rows[0]["upper"] -
               rows[0]["lower"] if rows else 0.02, align="edge", alpha=0.6, label=f"{name} ({total:,})")
    ax.set(xlabel="score", ylabel="share of the class", title="Scores on the test folds")
    ax.legend()
    return _save(figure, folder / "score_histogram.png")


def feature_importance(importances: list[tuple[str, float]], folder: Path) -> Path:
    figure, ax = plt.subplots(figsize=(7, 5))
    names, values = zip(*reversed(importances))
    ax.barh(names, values)
    ax.set(xlabel="importance (GBT, normalised)", title="Feature importance of the final model")
    return _save(figure, folder / "feature_importance.png")


def fold_calendar(calendar: list[dict], folder: Path) -> Path:
    """A Gantt chart of every fold's train, delay and test blocks."""
    figure, ax = plt.subplots(figsize=(9, 0.45 * len(calendar) + 1.2))
    colours = {"train": "tab:blue", "delay": "lightgrey", "test": "tab:orange"}
    for row, fold in enumerate(calendar):
        for block, colour in colours.items():
            if block in fold:
                start, end = (dt.datetime.fromisoformat(d) for d in fold[block])
                unit = dt.timedelta(hours=1) if "T" in fold[block][0] else dt.timedelta(days=1)  # hours: ISO times
                ax.barh(row, (end - start + unit) / dt.timedelta(days=1), left=matplotlib.dates.date2num(start),
                        color=colour)
    ax.set_yticks(range(len(calendar)), [f"{f['kind']} {f['fold']}" for f in calendar])
    ax.xaxis_date()
    ax.invert_yaxis()
    ax.legend(handles=[matplotlib.patches.Patch(color=c, label=b) for b, c in colours.items()], loc="lower right")
    ax.set(title="Fold calendar")
    return _save(figure, folder / "fold_calendar.png")
