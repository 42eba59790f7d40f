"""Transactions and fraud scenarios of the reference simulator (handbook §1), generated per customer in Spark.

Each customer's transactions come from generators seeded by (seed, stream, customer id[, day]), so the rows depend
only on the seed, never on partitioning. All scenarios run inside one vectorised pass over cards (`mapInArrow`):
1 and 2 (amount > threshold, compromised terminals) per card; 3 (compromised cards) pools the transactions of each
day's compromised cards, so a task re-simulates the few pool partners of its compromised cards (profiles and
terminals are hashed draws, computable anywhere). Each scenario overwrites the one before, in the book's order. The compromise
schedules (a few entities a day) are drawn once on the driver: their size grows with the number of days, not with
the data. Optional drift (`simulator.drift`, see `simulator.drift`) changes volumes and amounts from a date on and
adds scenario 4 (card testing) inside the per-customer pass, after scenarios 1 and 2.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window as W, functions as F, types as T
from pyspark.sql.pandas.types import to_arrow_schema

from conf import SimulatorConf
from simulator.drift import (SCENARIO_CARD_TESTING, card_testing_rows, card_testing_schedule, daily_counts,
                             shifted_amounts)
from simulator.hashing import xxhash64
from simulator.profiles import (TerminalGrid, _id_range, customer_profile_arrays, entity_rng,
                                terminal_positions)

STREAM_TRANSACTIONS = 3
STREAM_COMPROMISED_TERMINALS = 4
STREAM_COMPROMISED_CUSTOMERS = 5
STREAM_COMPROMISED_CARD_TX = 6

SECONDS_PER_DAY = 86_400
TIME_OF_DAY_MEAN = SECONDS_PER_DAY / 2
TIME_OF_DAY_STD = 20_000

GENERATED_SCHEMA = T.StructType([
    T.StructField("customer_id", T.LongType(), False),
    T.StructField("sequence", T.IntegerType(), False),
    T.StructField("terminal_id", T.LongType(), False),
    T.StructField("tx_time_seconds", T.LongType(), False),
    T.StructField("tx_time_days", T.IntegerType(), False),
    T.StructField("tx_amount", T.DoubleType(), False),
    T.StructField("tx_fraud", T.IntegerType(), False),
    T.StructField("tx_fraud_scenario", T.IntegerType(), False),
])
GENERATED_ARROW_SCHEMA = to_arrow_schema(GENERATED_SCHEMA)

RAW_COLUMNS = ("transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_time_seconds",
               "tx_time_days", "tx_fraud", "tx_fraud_scenario")


def compromised_terminal_keys(sim: SimulatorConf) -> np.ndarray:
    """Sorted keys terminal_id * days + day of every (terminal, day) under scenario 2."""
    keys = []
    for day in range(sim.days):
        rng = entity_rng(sim.seed, STREAM_COMPROMISED_TERMINALS, day)
        for terminal in rng.choice(sim.terminals, sim.compromised_terminals_per_day, replace=False):
            last = min(day + sim.terminal_compromise_days, sim.days)
            keys.extend(int(terminal) * sim.days + d for d in range(day, last))
    return np.unique(np.array(keys, dtype=np.int64))


def compromised_customer_days(sim: SimulatorConf) -> dict[int, list[int]]:
    """Customer id -> the days (in draw order) on which the card was compromised (scenario 3)."""
    schedule: dict[int, list[int]] = {}
    for day in range(sim.days):
        rng = entity_rng(sim.seed, STREAM_COMPROMISED_CUSTOMERS, day)
        for customer in rng.choice(sim.customers, sim.compromised_customers_per_day, replace=False):
            schedule.setdefault(int(customer), []).append(day)
    return schedule


def _one_customer(customer: tuple, sim: SimulatorConf, terminal_keys: np.ndarray,
                  testing_days: list[int] | None = None) -> dict[str, np.ndarray] | None:
    customer_id, mean_amount, std_amount, mean_nb_tx, terminals = customer
    if len(terminals) == 0:
        return None
    rng = entity_rng(sim.seed, STREAM_TRANSACTIONS, customer_id)
    day, time_of_day = _days_and_times(rng, mean_nb_tx, sim)
    n = len(day)
    amount = rng.normal(mean_amount, std_amount, n)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean_amount, int(negative.sum()))
    amount = shifted_amounts(amount, day, sim)
    terminal = np.asarray(terminals, dtype=np.int64)[rng.integers(0, len(terminals), n)]
    in_day = _in_day(time_of_day)
    day, time_of_day, amount, terminal = day[in_day], time_of_day[in_day], amount[in_day], terminal[in_day]
    testing = np.zeros(len(day), dtype=bool)
    if testing_days:
        extra = card_testing_rows(customer_id, testing_days, sim)
        day, time_of_day, amount, terminal = (np.concatenate(pair) for pair in zip((day, time_of_day, amount,
                                                                                    terminal), extra))
        testing = np.concatenate([testing, np.ones(len(extra[0]), dtype=bool)])
    seconds = day * SECONDS_PER_DAY + time_of_day
    order = np.argsort(seconds, kind="stable")
    day, seconds, amount, terminal = day[order], seconds[order], np.round(amount[order], 2), terminal[order]
    testing = testing[order]

    fraud = np.zeros(len(day), dtype=np.int32)
    scenario = np.zeros(len(day), dtype=np.int32)
    over_threshold = amount > sim.fraud_amount_threshold
    fraud[over_threshold], scenario[over_threshold] = 1, 1
    on_compromised_terminal = _contains(terminal_keys, terminal * sim.days + day)
    fraud[on_compromised_terminal], scenario[on_compromised_terminal] = 1, 2
    fraud[testing], scenario[testing] = 1, SCENARIO_CARD_TESTING

    return {
        "customer_id": np.full(len(day), customer_id, dtype=np.int64),
        "sequence": np.arange(len(day), dtype=np.int32),
        "terminal_id": terminal,
        "tx_time_seconds": seconds,
        "tx_time_days": day.astype(np.int32),
        "tx_amount": amount,
        "tx_fraud": fraud,
        "tx_fraud_scenario": scenario,
    }


def _days_and_times(rng: np.random.Generator, mean_nb_tx: float, sim: SimulatorConf
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The card's first draws: its days (one entry per transaction) and times of day, before any is dropped."""
    per_day = daily_counts(rng, mean_nb_tx, sim)
    day = np.repeat(np.arange(sim.days, dtype=np.int64), per_day)
    # int() of the draw truncates toward zero, as the book's int(np.random.normal(...)) does
    time_of_day = rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_STD, int(per_day.sum())).astype(np.int64)
    return day, time_of_day


def _in_day(time_of_day: np.ndarray) -> np.ndarray:
    """The draws kept: times strictly inside the day (the book drops the others)."""
    return (time_of_day > 0) & (time_of_day < SECONDS_PER_DAY)


def _in_day_counts(customer_id: int, mean_nb_tx: float, sim: SimulatorConf, testing_days: list[int] | None
                   ) -> np.ndarray:
    """Transactions per day of a card that has terminals: the same count `_one_customer` gives, from its first
    draws only (no amounts, terminals or scenarios)."""
    day, time_of_day = _days_and_times(entity_rng(sim.seed, STREAM_TRANSACTIONS, customer_id), mean_nb_tx, sim)
    counts = np.bincount(day[_in_day(time_of_day)], minlength=sim.days)
    for testing_day in testing_days or ():
        counts[testing_day] += sim.drift.card_testing_tx_per_card
    return counts


def _contains(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[position] == values


class CardSimulator:
    """Simulates any card on its own, inside a task: its profile and its available terminals come from the
    hashed draws (`simulator.profiles`), not from a table. Scenario 3 pools the transactions of the cards
    compromised on the same day, so a card's draws need its pool partners' transactions too: those are simulated
    again here (a few cards a day; cheaper than a Spark pass that joins and ranks every pool)."""

    def __init__(self, sim: SimulatorConf):
        self.sim = sim
        self.grid = TerminalGrid(*terminal_positions(sim), sim.radius, sim.grid_size)
        self.terminal_keys = compromised_terminal_keys(sim)
        self.testing = card_testing_schedule(sim)
        self.compromise_days = compromised_customer_days(sim)
        self.cards_on_day: dict[int, list[int]] = {}
        for customer, days in sorted(self.compromise_days.items()):
            for day in days:
                self.cards_on_day.setdefault(day, []).append(customer)
        self._partners: dict[int, dict[str, np.ndarray] | None] = {}

    def before_scenario_3(self, ids: np.ndarray) -> list[dict[str, np.ndarray] | None]:
        """Each card's transactions with scenarios 1, 2 (and 4), in the order of `ids`."""
        profiles = customer_profile_arrays(self.sim, ids)
        return [_one_customer((int(c), m, s, n, self.grid.within(x, y)), self.sim, self.terminal_keys,
                              self.testing.get(int(c)))
                for c, x, y, m, s, n in zip(ids, profiles["x_customer_id"], profiles["y_customer_id"],
                                            profiles["mean_amount"], profiles["std_amount"],
                                            profiles["mean_nb_tx_per_day"])]

    def daily_counts(self, ids: np.ndarray) -> np.ndarray:
        """Transactions per day (length `days`) of these cards together; scenario 3 changes amounts, never counts."""
        profiles = customer_profile_arrays(self.sim, ids)
        totals = np.zeros(self.sim.days, dtype=np.int64)
        for c, x, y, n in zip(ids, profiles["x_customer_id"], profiles["y_customer_id"],
                              profiles["mean_nb_tx_per_day"]):
            if len(self.grid.within(x, y)):
                totals += _in_day_counts(int(c), n, self.sim, self.testing.get(int(c)))
        return totals

    def _partner(self, customer: int) -> dict[str, np.ndarray] | None:
        if customer not in self._partners:
            self._partners[customer] = self.before_scenario_3(np.array([customer], dtype=np.int64))[0]
        return self._partners[customer]

    def cards(self, ids: np.ndarray) -> Iterator[dict[str, np.ndarray]]:
        """Each card's final transactions (all scenarios); cards without terminals are skipped."""
        for customer, rows in zip(ids, self.before_scenario_3(ids)):
            if rows is None:
                continue
            days = self.compromise_days.get(int(customer))
            if days:
                self._partners[int(customer)] = rows
                pools = {day: {c: self._partner(c) for c in self.cards_on_day[day]} for day in days}
                rows = with_scenario_3(int(customer), rows, pools, self.sim)
            yield rows


def pool_draws(pool: dict[int, dict[str, np.ndarray] | None], day: int, sim: SimulatorConf) -> dict[int, np.ndarray]:
    """Scenario 3's draw on compromise day `day`: of the pooled cards' transactions in [day, day + 14), one third
    (rounded down) in a random order fixed by the seed. Returns card -> the `sequence` numbers drawn."""
    cards, sequences = [], []
    for card, rows in sorted(pool.items()):
        if rows is None:
            continue
        exposed = (rows["tx_time_days"] >= day) & (rows["tx_time_days"] < day + sim.customer_compromise_days)
        sequences.append(rows["sequence"][exposed].astype(np.int64))
        cards.append(np.full(int(exposed.sum()), card, dtype=np.int64))
    none = np.zeros(0, dtype=np.int64)
    card, sequence = np.concatenate([none, *cards]), np.concatenate([none, *sequences])
    if len(card) == 0:
        return {}
    random_order = xxhash64([(sim.seed, "int"), (STREAM_COMPROMISED_CARD_TX, "int"), (day, "int"), (card, "long"),
                             (sequence, "int")])
    drawn = np.lexsort((sequence, card, random_order))[:len(card) // sim.compromised_tx_divisor]
    return {int(c): sequence[drawn][card[drawn] == c] for c in np.unique(card[drawn])}


def with_scenario_3(customer: int, rows: dict[str, np.ndarray], pools: dict[int, dict], sim: SimulatorConf
                    ) -> dict[str, np.ndarray]:
    """The card's rows after the draws of every compromise of the card (`pools`: compromise day -> the pooled
    cards' rows): a drawn transaction becomes fraud (scenario 3) with its amount x 5, once per draw."""
    times_drawn = np.zeros(len(rows["sequence"]), dtype=np.int64)
    for day, pool in pools.items():
        np.add.at(times_drawn, pool_draws(pool, day, sim).get(customer, np.zeros(0, dtype=np.int64)), 1)
    drawn = times_drawn > 0
    if not drawn.any():
        return rows
    out = dict(rows)
    factor = np.power(sim.compromised_amount_factor, times_drawn[drawn].astype(np.float64))
    out["tx_amount"] = rows["tx_amount"].copy()
    out["tx_amount"][drawn] = np.round(rows["tx_amount"][drawn] * factor, 2)
    out["tx_fraud"], out["tx_fraud_scenario"] = rows["tx_fraud"].copy(), rows["tx_fraud_scenario"].copy()
    out["tx_fraud"][drawn], out["tx_fraud_scenario"][drawn] = 1, 3
    return out


def generate_transactions(spark: SparkSession, sim: SimulatorConf) -> DataFrame:
    """Every card's transactions with all fraud scenarios (GENERATED_SCHEMA), cards split across tasks."""
    def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cards = CardSimulator(sim)
        for batch in batches:
            parts = list(cards.cards(batch.column("id").to_numpy()))
            if parts:
                yield pa.RecordBatch.from_arrays(
                    [pa.array(np.concatenate([p[name] for p in parts])) for name in GENERATED_SCHEMA.names],
                    schema=GENERATED_ARROW_SCHEMA)

    return _id_range(spark, sim.customers, sim.customers_per_task).mapInArrow(generate, GENERATED_SCHEMA)


def daily_transaction_counts(spark: SparkSession, sim: SimulatorConf) -> np.ndarray:
    """Transactions per day (length `days`) without materialising the transactions: each card's count draws
    are made once more (`CardSimulator.daily_counts`). One small aggregate of at most `days` rows a task."""
    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cards = CardSimulator(sim)
        totals = sum((cards.daily_counts(batch.column("id").to_numpy()) for batch in batches),
                     np.zeros(sim.days, dtype=np.int64))
        days = np.flatnonzero(totals)
        yield pa.RecordBatch.from_arrays([pa.array(days.astype(np.int32)), pa.array(totals[days])],
                                         names=["tx_time_days", "count"])

    per_task = _id_range(spark, sim.customers, sim.customers_per_task).mapInArrow(
        count, "tx_time_days int, count long")
    totals = np.zeros(sim.days, dtype=np.int64)
    for row in per_task.groupBy("tx_time_days").agg(F.sum("count").alias("total")).collect():
        totals[row["tx_time_days"]] = row["total"]
    return totals


def with_transaction_ids(generated: DataFrame, daily_counts: np.ndarray, start_date: dt.date,
                         partitions: int) -> DataFrame:
    """Adds the book's ids (rank by time, 0..N-1), the instant and `tx_date`; `daily_counts` holds the
    transactions of each day. A day's first id (the transactions of earlier days) is looked up in a literal
    array of one entry a day, so no table is joined. Ranking within a day keeps the sort distributed, and ranking
    within `tx_date` leaves the rows in the order a write partitioned by `tx_date` needs (one sort)."""
    start_epoch = int(dt.datetime.combine(start_date, dt.time(), tzinfo=dt.timezone.utc).timestamp())
    first_ids = np.concatenate(([0], np.cumsum(daily_counts)[:-1]))
    first_id = F.element_at(F.array(*[F.lit(int(i)).cast("long") for i in first_ids]), F.col("tx_time_days") + 1)
    within_day = W.partitionBy("tx_date").orderBy("tx_time_seconds", "customer_id", "sequence").rowsBetween(
        W.unboundedPreceding, W.currentRow)
    return (
        generated.select("*", first_id.alias("offset"),
                         F.date_add(F.lit(start_date), F.col("tx_time_days")).alias("tx_date"))
        # an explicit count of day partitions: the ranking and the write that follows keep every core busy
        .repartition(partitions, "tx_date")
        .select(
            (F.col("offset") + F.row_number().over(within_day) - 1).alias("transaction_id"),
            F.timestamp_seconds(F.lit(start_epoch) + F.col("tx_time_seconds")).alias("tx_datetime"),
            *RAW_COLUMNS[2:],
            "tx_date",
        )
    )
