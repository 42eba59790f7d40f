"""Reason codes in words for the investigators' page: a reason names a model input (and carries its SHAP
contribution); the phrase says what that input's value was for the transaction, e.g. `amount 6.1x this card's
30-day average`.

Names are matched by pattern rather than imported from `features/`: the scored table may hold inputs of an older
model, and an input no pattern knows still reads as `<feature> = <value>`.
"""
from __future__ import annotations

import math
import re
from typing import Callable

from conf import FeaturesConf

_WINDOW = re.compile(r"(?P<stem>.+)_(?P<days>\d+)day_window")


def _count(value: float, noun: str) -> str:
    return f"{value:,.0f} {noun}{'' if round(value) == 1 else 's'}"


def _duration(seconds: float) -> str:
    """A rough reading of a span: seconds under two minutes, minutes under two hours, hours under two days."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= 2 * size or (seconds >= size and seconds % size == 0):
            return _count(seconds / size, unit)
    return _count(seconds, "second")


def _last(seconds: float) -> str:
    """`the last hour`, `the last 30 minutes`."""
    span = _duration(seconds)
    return f"the last {span[2:] if span.startswith('1 ') else span}"


def _times(amount: float | None, average: float, what: str) -> str:
    if amount is None or average <= 0:
        return f"{what} {average:,.2f}"
    return f"amount {amount / average:.1f}x {what}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.4g}"


# {stem: phrase(value, window days or None, the transaction's amount, features config)}
_PHRASES: dict[str, Callable[[float, int | None, float | None, FeaturesConf], str]] = {
    "tx_amount": lambda v, n, a, f: f"amount {v:,.2f}",
    "tx_during_weekend": lambda v, n, a, f: "on a weekend" if v else "on a weekday",
    "tx_during_night": lambda v, n, a, f: f"at night (before {f.night_last_hour}:00)" if v else "during the day",
    "customer_id_nb_tx": lambda v, n, a, f: f"{_count(v, 'transaction')} on this card in {_count(n, 'day')}",
    "customer_id_avg_amount": lambda v, n, a, f: _times(a, v, f"this card's {n}-day average"),
    "terminal_id_nb_tx": lambda v, n, a, f: (f"{_count(v, 'transaction')} at the terminal over {_count(n, 'day')} "
                                             f"({f.delay_days}-day delay)"),
    "terminal_id_risk": lambda v, n, a, f: (f"terminal's fraud rate over {_count(n, 'day')} {v:.2f} "
                                            f"({f.delay_days}-day delay)"),
    "card_amount_zscore": lambda v, n, a, f: f"amount {v:+.1f} standard deviations from this card's {n}-day mean",
    "card_amount_robust_z": lambda v, n, a, f: f"amount {v:+.1f} robust deviations from this card's {n}-day median",
    "card_nb_terminals": lambda v, n, a, f: f"{_count(v, 'terminal')} used by this card in {_count(n, 'day')}",
    "card_large_amounts": lambda v, n, a, f: (f"{_count(v, 'earlier unusually large amount')} on this card in "
                                              f"{_count(n, 'day')}"),
    "card_seconds_since_previous": lambda v, n, a, f: (
        f"no earlier transaction on this card in {_count(f.card_gap_cap_days, 'day')}"
        if v >= f.card_gap_cap_days * 86_400 else f"{_duration(v)} since this card's previous transaction"),
    "card_nb_tx_recent_window": lambda v, n, a, f: (f"{_count(v, 'transaction')} on this card in "
                                                    f"{_last(f.card_recent_seconds)}"),
    "terminal_live_nb_tx": lambda v, n, a, f: f"{_count(v, 'transaction')} at the terminal in {_count(n, 'day')}",
    "terminal_live_avg_amount": lambda v, n, a, f: _times(a, v, f"the terminal's {n}-day average"),
    "card_terminal_new": lambda v, n, a, f: (f"card's first use of this terminal in {_count(n, 'day')}" if v
                                             else f"card used this terminal in the last {_count(n, 'day')}"),
    "card_terminal_spend_share": lambda v, n, a, f: f"{v:.0%} of this card's {n}-day spend at this terminal",
    "terminal_known_frauds": lambda v, n, a, f: (f"{_count(v, 'known fraud')} at the terminal over "
                                                 f"{_count(n, 'day')} ({f.delay_days}-day delay)"),
    "terminal_known_fraud_streak": lambda v, n, a, f: (
        f"terminal's latest {_count(v, 'known transaction')} are all frauds" if v
        else "no known run of frauds at the terminal"),
    "terminal_known_fraud_streak_days": lambda v, n, a, f: (f"terminal's known run of frauds began "
                                                            f"{_count(v, 'day')} ago"),
    "card_known_frauds": lambda v, n, a, f: (f"{_count(v, 'known fraud')} on this card over {_count(n, 'day')} "
                                             f"({f.delay_days}-day delay)"),
    "card_flagged": lambda v, n, a, f: "card already has a known fraud" if v else "no known fraud on this card",
    "category_risk": lambda v, n, a, f: (f"category's fraud rate over {_count(n, 'day')} {v:.2f} "
                                         f"({f.delay_days}-day delay)"),
    "home_merchant_distance_km": lambda v, n, a, f: f"{v:,.0f} km from the card holder's home",
    "cardholder_age_years": lambda v, n, a, f: f"card holder aged {v:.0f}",
}


def reason_phrase(feature: str, value: float | None, amount: float | None = None,
                  features: FeaturesConf = FeaturesConf()) -> str:
    """`feature`'s `value` for a transaction of `amount`, in words; `features` gives the windows' delay and caps."""
    if value is None or not math.isfinite(value):
        return f"{feature} unknown"
    window = _WINDOW.fullmatch(feature)
    stem, days = (window["stem"], int(window["days"])) if window else (feature, None)
    phrase = _PHRASES.get(stem)
    return phrase(value, days, amount, features) if phrase else f"{feature} = {_number(value)}"
