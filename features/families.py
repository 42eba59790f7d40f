"""The optional feature families of issue 9 as one config-driven transform, with their names and bounds for
the features contract. Each family is off unless `FeaturesConf` switches it on."""
from __future__ import annotations

from typing import Callable, NamedTuple

from pyspark.sql import DataFrame, types as T

from features.card_behaviour import (card_behaviour, card_behaviour_names, large_amounts_name, robust_zscore,
                                     robust_zscore_and_large_amounts, robust_zscore_name)
from features.delayed_risk import card_delayed_names, card_delayed_risk, terminal_delayed_names, terminal_delayed_risk
from features.novelty import novelty, novelty_names
from features.terminal_activity import terminal_activity_names
from features.windows import (_apply_by_key, customer_window_fields, customer_window_values, customer_windows,
                              terminal_window_fields, terminal_window_values)


class FeatureBound(NamedTuple):
    name: str
    spark_type: T.DataType
    lower: float | None
    upper: float | None


# the ids each family's switch needs: without them (an ingested shape, README "Ingest your own data") it is off
FAMILY_IDS = {"card_behaviour_windows_days": ("card",), "robust_zscore_days": ("card",),
              "large_amounts_days": ("card",),
              "terminal_activity_windows_days": ("terminal",), "novelty_days": ("card", "terminal"),
              "delayed_risk_windows_days": ("card", "terminal")}


def families_needing(missing: set[str], features) -> list[str]:
    """The switches of families that are on in `features` but need one of the `missing` ids."""
    return [switch for switch, ids in FAMILY_IDS.items() if getattr(features, switch) and set(ids) & missing]


def family_names(features) -> dict[str, list[str]]:
    """{family: its column names} for the families switched on in `features` (a FeaturesConf)."""
    families = {}
    if features.card_behaviour_windows_days:
        families["card_behaviour"] = card_behaviour_names(features.card_behaviour_windows_days)
    if features.robust_zscore_days:
        families["robust_zscore"] = [robust_zscore_name(features.robust_zscore_days)]
    if features.large_amounts_days:
        if not features.robust_zscore_days:
            raise ValueError("features.large_amounts_days counts robust z-scores: it needs features.robust_zscore_days")
        families["large_amounts"] = [large_amounts_name(features.large_amounts_days)]
    if features.terminal_activity_windows_days:
        families["terminal_activity"] = terminal_activity_names(features.terminal_activity_windows_days)
    if features.novelty_days:
        families["novelty"] = novelty_names(features.novelty_days)
    if features.delayed_risk_windows_days:
        windows = sorted(features.delayed_risk_windows_days)
        families["delayed_risk"] = [*terminal_delayed_names(windows), *card_delayed_names(windows)]
    return families


def family_bounds(features) -> list[FeatureBound]:
    """Every family column with its type and bounds (z-scores are unbounded; counts of the current row >= 1)."""
    bounds = []
    integer, double = T.IntegerType(), T.DoubleType()
    for name in (n for names in family_names(features).values() for n in names):
        if "zscore" in name or "robust_z" in name:
            bounds.append(FeatureBound(name, double, None, None))
        elif name in ("card_flagged",) or "_new_" in name:
            bounds.append(FeatureBound(name, integer, 0, 1))
        elif "spend_share" in name:
            bounds.append(FeatureBound(name, double, 0.0, 1.0))
        elif name.startswith(("card_nb_", "terminal_live_nb_")):
            bounds.append(FeatureBound(name, integer, 1, None))
        else:
            kind = double if name.endswith("_days") or "avg_amount" in name else integer
            bounds.append(FeatureBound(name, kind, 0, None))
    return bounds


def lookback_days(features) -> int:
    """Days of history the families read before a requested date."""
    return max([0, *features.card_behaviour_windows_days, features.robust_zscore_days,
                (features.large_amounts_days + features.robust_zscore_days) if features.large_amounts_days else 0,
                *features.terminal_activity_windows_days, features.novelty_days,
                *(features.delay_days + n for n in features.delayed_risk_windows_days),
                features.card_gap_cap_days if features.card_behaviour_windows_days else 0])


def _by_key(features) -> dict[str, list[tuple[list[str], Callable]]]:
    """{key column: [(column names, compute(table, seconds) -> {name: values})]} of the families switched on."""
    f = features
    card, terminal = "customer_id", "terminal_id"

    def column(table, name):
        return table.column(name).to_numpy()

    plans: dict[str, list] = {card: [], terminal: []}
    if f.card_behaviour_windows_days:
        plans[card].append((card_behaviour_names(f.card_behaviour_windows_days), lambda t, s: card_behaviour(
            column(t, card), s, column(t, "tx_amount"), column(t, terminal), f.card_behaviour_windows_days,
            f.card_recent_seconds, f.min_amount_std, f.card_gap_cap_days)))
    if f.robust_zscore_days:
        robust_name = robust_zscore_name(f.robust_zscore_days)
        large_name = large_amounts_name(f.large_amounts_days) if f.large_amounts_days else None

        def robust(t, s):
            robust_args = (column(t, card), s, column(t, "tx_amount"), f.robust_zscore_days,
                           f.robust_zscore_max_rows, f.min_amount_std)
            if large_name is None:
                return {robust_name: robust_zscore(*robust_args)}
            z, counts = robust_zscore_and_large_amounts(*robust_args, f.large_amounts_days, f.large_amount_robust_z)
            return {robust_name: z, large_name: counts}

        plans[card].append(([robust_name, *([large_name] if large_name else [])], robust))
    if f.novelty_days:
        plans[card].append((novelty_names(f.novelty_days), lambda t, s: novelty(
            column(t, card), column(t, terminal), s, column(t, "tx_amount"), f.novelty_days)))
    if f.terminal_activity_windows_days:
        plans[terminal].append((terminal_activity_names(f.terminal_activity_windows_days), lambda t, s: {
            name.replace("customer_id_", "terminal_live_"): values for name, values in customer_windows(
                column(t, terminal), s, column(t, "tx_amount"), f.terminal_activity_windows_days).items()}))
    if f.delayed_risk_windows_days:
        windows = tuple(sorted(f.delayed_risk_windows_days))
        plans[terminal].append((terminal_delayed_names(windows), lambda t, s: terminal_delayed_risk(
            column(t, terminal), s, column(t, "tx_fraud"), windows, f.delay_days)))
        plans[card].append((card_delayed_names(windows), lambda t, s: card_delayed_risk(
            column(t, card), s, column(t, "tx_fraud"), windows, f.delay_days)))
    return {key: plan for key, plan in plans.items() if plan}


def with_feature_families(df: DataFrame, features, groups: int) -> DataFrame:
    """Every family switched on in `features`, in one window pass (one shuffle) per key: all card families
    together, then all terminal families, rather than a pass per family. Same values as the families' own
    transforms (`with_card_behaviour`, ...), which the tests pin."""
    return with_windows_by_key(df, features, groups, book=False)


def with_windows_by_key(df: DataFrame, features, groups: int, book: bool = True) -> DataFrame:
    """The handbook's card and terminal windows (`book`) and every family switched on, in one pass per key:
    each pass shuffles whole rows, so the card windows of the book share theirs with the card families, and the
    delayed terminal windows with the terminal families (two shuffles, not four)."""
    types = {b.name: b.spark_type for b in family_bounds(features)}
    # {key: [(the fields a computation adds, compute(table, seconds) -> {name: values})]}
    plans = {key: [([T.StructField(name, types[name]) for name in names], compute) for names, compute in plan]
             for key, plan in _by_key(features).items()}
    if book and features.customer_windows_days:
        plans.setdefault("customer_id", []).insert(0, (customer_window_fields(features.customer_windows_days),
                                                       customer_window_values(features.customer_windows_days)))
    if book and features.terminal_windows_days:
        plans.setdefault("terminal_id", []).insert(0, (
            terminal_window_fields(features.terminal_windows_days),
            terminal_window_values(features.terminal_windows_days, features.delay_days)))
    out = df
    for key, plan in sorted(plans.items()):  # customer_id, then terminal_id
        fields = [field for added, _ in plan for field in added]

        def compute(table, seconds, plan=plan):
            values = {}
            for added, family in plan:
                computed = family(table, seconds)
                values.update((f.name, computed[f.name]) for f in added)  # the schema's order
            return values

        out = _apply_by_key(out, key, fields, groups, compute)
    return out
