"""A scoring run's report, the investigators' page, as one self-contained HTML file (figures embedded as PNG,
a few lines of inline script to sort the tables; nothing to fetch), readable without a server: the run's
figures, then per day the queue of cards with each card's top transaction, its reasons in words and the card's
other transactions of the day, then the charts (queued cards per day, the score histogram and, where labels are
known, the precision-recall curve).

Only bounded sets reach the driver: aggregates (per day, per score bin, per threshold), the queue (at most
`scoring.investigate_cards` cards a day) and at most `CARD_TRANSACTIONS` + 1 transactions of each queued card.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from pyspark.sql import DataFrame, Window as W, functions as F  # noqa: E402

from conf import FeaturesConf  # noqa: E402
from models.metrics import score_histogram, threshold_table  # noqa: E402
from models.reasons import reason_phrase  # noqa: E402
from models.report_links import data_docs_link  # noqa: E402

THRESHOLDS = [i / 100 for i in range(101)]
DAY, CARD = "tx_date", "customer_id"
CARD_TRANSACTIONS = 20  # a card's other transactions of the day listed under its queue row: a page, not its day
_REASON = re.compile(r"reason_\d+")


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


def queue_cases(scored: DataFrame, queue: DataFrame, inputs: Sequence[str],
                per_card: int = CARD_TRANSACTIONS) -> DataFrame:
    """Each queued card's transactions of the day, most probable first (`position` 1 is the top transaction, whose
    reasons the queue shows), at most 1 + `per_card` a card, with the card's rank and each reason's input value."""
    reasons = sorted((c for c in scored.columns if _REASON.fullmatch(c)), key=lambda c: int(c.split("_")[1]))
    values = F.create_map(*[part for name in inputs if name in scored.columns
                            for part in (F.lit(name), F.col(name).cast("double"))])
    cards = queue.select(DAY, CARD, "alert_rank", F.col("transactions").alias("card_transactions"), "known_fraud")
    by_probability = (W.partitionBy(DAY, CARD).orderBy(F.col("fraud_probability").desc(), F.col("transaction_id"))
                      .rowsBetween(W.unboundedPreceding, W.currentRow))
    # the queue is small (a day's top cards), so it is broadcast to the day's scored rows, not the other way round
    return (scored.join(F.broadcast(cards), on=[DAY, CARD], how="inner")
            .select(DAY, CARD, "alert_rank", "card_transactions", "known_fraud", "transaction_id", "tx_datetime",
                    "terminal_id", "tx_amount", "fraud_probability", "risk_score", "outcome", "tx_fraud",
                    *[c for r in reasons for c in (r, f"{r}_contribution", values[F.col(r)].alias(f"{r}_value"))],
                    F.row_number().over(by_probability).alias("position"))
            .where(F.col("position") <= per_card + 1))


def _cell(value, sort_key: float | None = None) -> str:
    key = "" if sort_key is None else f' data-v="{sort_key!r}"'
    return f"<td{key}>{html.escape('' if value is None else str(value))}</td>"


def _head(*names: str) -> str:
    return "<thead><tr>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr></thead>"


def _label(fraud) -> str:
    return {1: "fraud", 0: "genuine"}.get(fraud, "")


def _reason_names(row: dict) -> list[str]:
    return sorted((k for k in row if _REASON.fullmatch(k)), key=lambda k: int(k.split("_")[1]))


def _phrase(row: dict, reason: str, features: FeaturesConf) -> str:
    return reason_phrase(row[reason], row[f"{reason}_value"], row["tx_amount"], features)


def _reason_list(row: dict, features: FeaturesConf) -> str:
    items = "".join(f'<li>{html.escape(_phrase(row, k, features))} <span class="c" title="SHAP contribution '
                    f'(log-odds)">{row[f"{k}_contribution"]:+.2f}</span></li>' for k in _reason_names(row))
    return f"<td><ol>{items}</ol></td>"


def _transactions(others: list[dict], of_card: int, features: FeaturesConf) -> str:
    plural = "" if of_card == 1 else "s"
    shown = f"{of_card} other transaction{plural}" if len(others) == of_card else \
        f"the {len(others)} most probable of {of_card} other transactions"
    rows = "".join(
        "<tr>" + "".join([_cell(r["tx_datetime"]), _cell(r["transaction_id"], r["transaction_id"]),
                          _cell(f"{r['tx_amount']:,.2f}", r["tx_amount"]), _cell(r["terminal_id"], r["terminal_id"]),
                          _cell(r["risk_score"], r["risk_score"]), _cell(r["outcome"]), _cell(_label(r["tx_fraud"])),
                          _cell("".join(_phrase(r, k, features) for k in _reason_names(r)[:1]))]) + "</tr>"
        for r in sorted(others, key=lambda r: (r["tx_datetime"], r["transaction_id"])))
    return (f'<details><summary>{html.escape(shown)} of the day</summary><table class="sortable">'
            f"{_head('time', 'transaction', 'amount', 'terminal', 'risk score', 'outcome', 'label', 'top reason')}"
            f"<tbody>{rows}</tbody></table></details>")


def _card(rows: list[dict], features: FeaturesConf) -> str:
    """A queued card as one <tbody>: its top transaction, then its other transactions folded (sorting moves the
    pair together)."""
    top, others = rows[0], rows[1:]
    cells = [_cell(top["alert_rank"], top["alert_rank"]), _cell(top[CARD], top[CARD]),
             _cell(top["risk_score"], top["risk_score"]),
             _cell(f"{top['fraud_probability']:.3f}", top["fraud_probability"]),
             _cell(f"{top['tx_amount']:,.2f}", top["tx_amount"]), _cell(top["terminal_id"], top["terminal_id"]),
             _cell(top["tx_datetime"]), _reason_list(top, features),
             _cell(top["card_transactions"], top["card_transactions"]), _cell(_label(top["known_fraud"]))]
    main = f"<tr>{''.join(cells)}</tr>"
    if not others:
        return f"<tbody>{main}</tbody>"
    folded = _transactions(others, top["card_transactions"] - 1, features)
    return f'<tbody>{main}<tr class="more"><td colspan="{len(cells)}">{folded}</td></tr></tbody>'


def _queue(cases: list[dict], first: dt.date, last: dt.date, features: FeaturesConf) -> str:
    by_card: dict[tuple, list[dict]] = {}
    for row in sorted(cases, key=lambda r: (r[DAY], r["alert_rank"], r["position"])):
        by_card.setdefault((row[DAY], row["alert_rank"]), []).append(row)
    sections = []
    for day in (first + dt.timedelta(days=i) for i in range((last - first).days + 1)):
        cards = [rows for (d, _), rows in by_card.items() if d == day]
        if not cards:
            sections.append(f"<h3>{day}</h3><p>No card queued.</p>")
            continue
        head = _head("rank", "card", "risk score", "probability", "amount", "terminal", "time",
                     "reasons (contribution)", "transactions that day", "label")
        sections.append(f"<h3>{day}: {len(cards)} card{'' if len(cards) == 1 else 's'}</h3>"
                        f'<table class="sortable cases">{head}'
                        + "".join(_card(rows, features) for rows in cards) + "</table>")
    return "".join(sections)


_SUMMARY_LABELS = {
    "run_id": "run", "first_date": "first date", "last_date": "last date", "features_table": "features table",
    "model_uri": "model URI", "model_name": "model", "model_version": "model version",
    "mlflow_run_id": "MLflow run", "rows_in": "rows read", "rows_scored": "rows scored",
    "rows_quarantined": "rows quarantined", "alerts": "cards queued", "outcomes": "transactions by outcome",
    "snapshots": "table snapshots", "report": "this report", "seconds": "seconds until this report",
}


def summary_table(summary: dict) -> str:
    """The run's figures as a two-column table, known keys first, each under a readable name."""
    def shown(value) -> str:
        if isinstance(value, dict):
            return ", ".join(f"{k} {shown(v)}" for k, v in value.items())
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    keys = [*(k for k in _SUMMARY_LABELS if k in summary), *(k for k in summary if k not in _SUMMARY_LABELS)]
    rows = "".join(f"<tr><th>{html.escape(_SUMMARY_LABELS.get(k, k))}</th><td>{html.escape(shown(summary[k]))}"
                   "</td></tr>" for k in keys)
    return f'<table class="summary">{rows}</table>'


# Clicking a header sorts its table by that column (again: the other way); a cell's data-v, when set, is its
# numeric key. A queue table sorts its <tbody>s, so each card keeps its folded transactions under it.
_SORT_SCRIPT = """<script>
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), i = th.cellIndex, up = th.dataset.up !== "1";
    th.dataset.up = up ? "1" : "0";
    var cases = table.classList.contains("cases"), parent = cases ? table : table.tBodies[0];
    var items = Array.from(cases ? table.tBodies : parent.rows);
    function key(item) {
      var cell = (cases ? item.rows[0] : item).cells[i];
      return cell.dataset.v !== undefined ? parseFloat(cell.dataset.v) : cell.textContent;
    }
    items.sort(function (a, b) { var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); });
    items.forEach(function (item) { parent.appendChild(item); });
  });
});
</script>"""

_STYLE = """<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;margin-bottom:1em}
td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top;font-size:13px}
table.sortable th{cursor:pointer;background:#f3f3f3} td[data-v]{text-align:right} ol{margin:0;padding-left:1.2em}
.c{color:#888;font-size:11px} tr.more td{border-bottom:2px solid #bbb} summary{cursor:pointer;color:#246}
table.summary th{text-align:left;background:none;font-weight:normal;color:#555}</style>"""


def build(scored: DataFrame, queue: DataFrame, summary: dict, inputs: Sequence[str],
          features: FeaturesConf = FeaturesConf()) -> str:
    """The report's HTML for one run (`scored` and `queue` restricted to the run's dates; `inputs` the model's,
    which the reasons name; `features` the config the inputs were built with, for the phrases' windows)."""
    daily = [r.asDict() for r in queue.groupBy(DAY).agg(
        F.count(F.lit(1)).alias("alerted_cards"), F.sum("known_fraud").alias("compromised_cards"))
        .orderBy(DAY).collect()]  # one row a day
    bins = [r.asDict() for r in score_histogram(scored.select("tx_fraud", F.col("fraud_probability").alias(
        "score")).na.fill({"tx_fraud": -1}), 50).collect()]
    for row in bins:
        row["tx_fraud"] = None if row["tx_fraud"] == -1 else row["tx_fraud"]
    labelled = scored.where(F.col("tx_fraud").isNotNull()).select("tx_fraud", F.col("fraud_probability").alias("score"))
    thresholds = [r.asDict() for r in threshold_table(labelled, THRESHOLDS).collect()]
    # bounded: the queue's cards (investigate_cards a day) times 1 + CARD_TRANSACTIONS, never the scored table
    cases = [r.asDict() for r in queue_cases(scored, queue, inputs).collect()]
    figures = [_daily_figure(daily), _histogram_figure(bins, "tx_fraud")]
    if any(r["tp"] for r in thresholds):
        figures.append(_pr_figure(thresholds))
    rows = "".join("<tr>" + _cell(d[DAY]) + _cell(d["alerted_cards"], d["alerted_cards"])
                   + _cell(d["compromised_cards"], d["compromised_cards"]) + "</tr>" for d in daily)
    images = "".join(f'<p><img alt="figure" src="data:image/png;base64,{png}"></p>' for png in figures)
    first, last = dt.date.fromisoformat(summary["first_date"]), dt.date.fromisoformat(summary["last_date"])
    title = html.escape(f"Scoring run {summary['run_id']}: {first} to {last}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
{_STYLE}</head>
<body><h1>{title}</h1>
{summary_table(summary)}
{data_docs_link(summary)}
<h2>Investigators' queue</h2>
<p>Per day, the queued cards by rank: each card's most probable transaction and its reasons (the inputs that
pushed its score up the most, with their SHAP contribution in log-odds); click a card's line below it for its
other transactions of the day. Click a column's header to sort.</p>
{_queue(cases, first, last, features)}
<h2>Charts</h2>
<table class="sortable">{_head('date', 'queued cards', 'compromised (known)')}<tbody>{rows}</tbody></table>
{images}
{_SORT_SCRIPT}
</body></html>"""
