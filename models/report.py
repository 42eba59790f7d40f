"""The training job's results table, side by side with the book's published results (handbook §5)."""
from __future__ import annotations

# Prequential test folds 2018-08-08 ... 09-04, mean: (AUC ROC, average precision, CP@100)
BOOK_RESULTS = (
    ("book: decision tree", (0.797, 0.579, 0.284)),
    ("book: logistic regression", (0.868, 0.623, 0.297)),
    ("book: random forest", (0.870, 0.678, 0.299)),
    ("book: XGBoost (best of grid)", (0.872, 0.687, 0.303)),
    ("book: best single XGBoost on test", (0.871, 0.694, 0.304)),
)
# The acceptance level of the training issue: the book's random forest / XGBoost.
TARGETS = {"auc_roc": 0.86, "average_precision": 0.66, "card_precision_at_k": 0.285}
COLUMNS = ("auc_roc", "average_precision", "card_precision_at_k")


def _cell(stats: dict) -> str:
    return "n/a" if stats["mean"] is None else f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def results_table(validation: dict[str, dict], test: dict[str, dict], k: int) -> str:
    header = f"{'':<36}{'AUC ROC':>16}{'average precision':>20}{f'CP@{k}':>16}"
    lines = [header, "-" * len(header)]
    for name, metrics in (("ours: validation folds (chosen)", validation), ("ours: test folds", test)):
        lines.append(f"{name:<36}" + "".join(f"{_cell(metrics[c]):>{w}}" for c, w in zip(COLUMNS, (16, 20, 16))))
    for name, values in BOOK_RESULTS:
        lines.append(f"{name:<36}" + "".join(f"{v:>{w}.3f}" for v, w in zip(values, (16, 20, 16))))
    return "\n".join(lines)


def meets_targets(test: dict[str, dict]) -> dict[str, bool]:
    return {m: test[m]["mean"] is not None and test[m]["mean"] >= target for m, target in TARGETS.items()}
