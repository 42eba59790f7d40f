"""Transactions and fraud scenarios of the reference simulator (handbook §1), generated per customer in Spark.

Each customer's transactions come from generators seeded by (seed, stream, customer id[, day]), so the rows depend
only on the seed, never on partitioning. Scenarios 1 and 2 (amount > threshold, compromised terminals) run inside the
per-customer pass; scenario 3 (compromised cards) pools the transactions of each day's compromised cards, so it
runs as a Spark pass after it. Each scenario overwrites the one before, in the book's order. The compromise
schedules (a few entities a day) are drawn once on the driver: their size grows with the number of days, not with
the data. Optional drift (`simulator.drift`, see `simulator.drift`) changes volumes and amounts from a date on and
adds scenario 4 (card testing) inside the per-customer pass, after scenarios 1 and 2.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window as W, functions as F, types as T

from conf import SimulatorConf
from simulator.drift import (SCENARIO_CARD_TESTING, card_testing_rows, card_testing_schedule, daily_counts,
                             shifted_amounts)
from simulator.profiles import entity_rng

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
    per_day = daily_counts(rng, mean_nb_tx, sim)
    n = int(per_day.sum())
    day = np.repeat(np.arange(sim.days, dtype=np.int64), per_day)
    # int() of the draw truncates toward zero, as the book's int(np.random.normal(...)) does
    time_of_day = rng.normal(TIME_OF_DAY_MEAN, TIME_OF_DAY_STD, n).astype(np.int64)
    amount = rng.normal(mean_amount, std_amount, n)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean_amount, int(negative.sum()))
    amount = shifted_amounts(amount, day, sim)
    terminal = np.asarray(terminals, dtype=np.int64)[rng.integers(0, len(terminals), n)]
    in_day = (time_of_day > 0) & (time_of_day < SECONDS_PER_DAY)
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


def _contains(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[position] == values


def generate_transactions(customers: DataFrame, sim: SimulatorConf) -> DataFrame:
    """Per-customer transactions labelled with scenarios 1 and 2; `customers` needs the profile and
    `available_terminals`. Scenario 3 pools several cards, so it is a pass of its own: `with_compromised_cards`."""
    terminal_keys = compromised_terminal_keys(sim)
    testing_schedule = card_testing_schedule(sim)

    def generate(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            parts = [
                _one_customer(row, sim, terminal_keys, testing_schedule.get(row[0]))
                for row in zip(batch["customer_id"].tolist(), batch["mean_amount"].tolist(),
                               batch["std_amount"].tolist(), batch["mean_nb_tx_per_day"].tolist(),
                               batch["available_terminals"])
            ]
            parts = [p for p in parts if p is not None]
            if parts:
                yield pd.DataFrame({name: np.concatenate([p[name] for p in parts]) for name in GENERATED_SCHEMA.names})

    inputs = customers.select("customer_id", "mean_amount", "std_amount", "mean_nb_tx_per_day",
                              "available_terminals")
    return inputs.mapInPandas(generate, GENERATED_SCHEMA)


def with_compromised_cards(generated: DataFrame, sim: SimulatorConf,
                           schedule: list[tuple[int, int]] | None = None) -> DataFrame:
    """Scenario 3: for each day d, of the transactions of that day's compromised cards in [d, d + 14), one third of
    the pool (rounded down, drawn at random) get amount x 5 and become fraud. A transaction drawn by k overlapping
    compromises is multiplied k times. `schedule`: (customer_id, day) pairs; default: drawn from the seed."""
    if schedule is None:
        schedule = [(c, d) for c, days in compromised_customer_days(sim).items() for d in days]
    draws = generated.sparkSession.createDataFrame(schedule, "customer_id long, compromise_day int")
    in_window = (F.col("tx_time_days") >= F.col("compromise_day")) & (
        F.col("tx_time_days") < F.col("compromise_day") + sim.customer_compromise_days)
    exposed = generated.join(F.broadcast(draws), on="customer_id", how="inner").where(in_window)
    random_order = F.xxhash64(F.lit(sim.seed), F.lit(STREAM_COMPROMISED_CARD_TX), "compromise_day", "customer_id",
                              "sequence")
    by_draw = W.partitionBy("compromise_day")
    picks = (
        exposed.select(
            "customer_id", "sequence",
            F.row_number().over(by_draw.orderBy(random_order, "customer_id", "sequence").rowsBetween(
                W.unboundedPreceding, W.currentRow)).alias("draw_rank"),
            F.count(F.lit(1)).over(by_draw.rowsBetween(W.unboundedPreceding, W.unboundedFollowing)).alias("pool"),
        )
        .where(F.col("draw_rank") <= F.floor(F.col("pool") / sim.compromised_tx_divisor))
        .groupBy("customer_id", "sequence")
        .agg(F.count(F.lit(1)).alias("times_drawn"))
    )
    drawn = F.col("times_drawn").isNotNull()
    factor = F.pow(F.lit(sim.compromised_amount_factor), F.col("times_drawn"))
    return generated.join(F.broadcast(picks), on=["customer_id", "sequence"], how="left").select(
        *[c for c in generated.columns if c not in ("tx_amount", "tx_fraud", "tx_fraud_scenario")],
        F.when(drawn, F.round(F.col("tx_amount") * factor, 2)).otherwise(F.col("tx_amount")).alias("tx_amount"),
        F.when(drawn, F.lit(1)).otherwise(F.col("tx_fraud")).alias("tx_fraud"),
        F.when(drawn, F.lit(3)).otherwise(F.col("tx_fraud_scenario")).alias("tx_fraud_scenario"),
    )


def with_transaction_ids(generated: DataFrame, day_offsets: DataFrame, start_date: dt.date,
                         partitions: int) -> DataFrame:
    """Adds the book's ids (rank by time, 0..N-1) and the instant; `day_offsets` holds (tx_time_days, offset),
    the number of transactions on earlier days. Ranking within a day keeps the sort distributed."""
    start_epoch = int(dt.datetime.combine(start_date, dt.time(), tzinfo=dt.timezone.utc).timestamp())
    within_day = W.partitionBy("tx_time_days").orderBy("tx_time_seconds", "customer_id", "sequence").rowsBetween(
        W.unboundedPreceding, W.currentRow)
    return (
        # an explicit count of day partitions: the ranking and the write that follows keep every core busy
        generated.repartition(partitions, "tx_time_days")
        .join(F.broadcast(day_offsets), on="tx_time_days", how="inner")
        .select(
            (F.col("offset") + F.row_number().over(within_day) - 1).alias("transaction_id"),
            F.timestamp_seconds(F.lit(start_epoch) + F.col("tx_time_seconds")).alias("tx_datetime"),
            *RAW_COLUMNS[2:],
        )
    )


def day_offsets_from_counts(counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[(day, count)] -> [(day, transactions on earlier days)]; one row a day, computed on the driver."""
    offsets, total = [], 0
    for day, count in sorted(counts):
        offsets.append((day, total))
        total += count
    return offsets
