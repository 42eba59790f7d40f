"""Customer and terminal profiles of the reference simulator (handbook §1), drawn in Spark.

Every draw is a hash of (seed, stream, entity id, draw number), so a profile depends only on the seed and the
entity's id, never on how the ids are split across tasks.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession, functions as F

from conf import SimulatorConf

STREAM_CUSTOMER_PROFILE = 1
STREAM_TERMINAL_PROFILE = 2


def entity_rng(seed: int, stream: int, *ids: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *ids])


def hashed_uniform(seed: int, stream: int, entity: Column, draw: int, low: float, high: float) -> Column:
    """U(low, high) from the top 53 bits of xxhash64(seed, stream, id, draw): a pure function of the entity id,
    computed by Spark without a Python worker."""
    bits = F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.lit(stream), entity, F.lit(draw)), 11)
    return F.lit(low) + bits.cast("double") * ((high - low) / float(1 << 53))


def _id_range(spark: SparkSession, count: int, per_task: int) -> DataFrame:
    return spark.range(0, count, numPartitions=max(1, math.ceil(count / per_task)))


def customer_profiles(spark: SparkSession, sim: SimulatorConf) -> DataFrame:
    """Location ~ U(0, grid)^2, mean amount ~ U(5, 100), std = mean / 2, mean daily count ~ U(0, 4)."""
    draw = partial(hashed_uniform, sim.seed, STREAM_CUSTOMER_PROFILE, F.col("id"))
    return (
        _id_range(spark, sim.customers, sim.customers_per_task)
        .select(
            F.col("id").alias("customer_id"),
            draw(0, 0.0, sim.grid_size).alias("x_customer_id"),
            draw(1, 0.0, sim.grid_size).alias("y_customer_id"),
            draw(2, 5.0, 100.0).alias("mean_amount"),
            draw(3, 0.0, 4.0).alias("mean_nb_tx_per_day"),
        )
        .select("customer_id", "x_customer_id", "y_customer_id", "mean_amount",
                (F.col("mean_amount") / 2).alias("std_amount"), "mean_nb_tx_per_day")
    )


def terminal_profiles(spark: SparkSession, sim: SimulatorConf) -> DataFrame:
    """Location ~ U(0, grid)^2."""
    draw = partial(hashed_uniform, sim.seed, STREAM_TERMINAL_PROFILE, F.col("id"))
    return _id_range(spark, sim.terminals, 4 * sim.customers_per_task).select(
        F.col("id").alias("terminal_id"),
        draw(0, 0.0, sim.grid_size).alias("x_terminal_id"),
        draw(1, 0.0, sim.grid_size).alias("y_terminal_id"),
    )


def with_available_terminals(customers: DataFrame, terminals: DataFrame, radius: float) -> DataFrame:
    """Adds `available_terminals` (sorted ids at Euclidean distance < radius) and `nb_terminals`.

    A grid of cells of side `radius` turns the all-pairs search into a join on the 3 x 3 neighbouring cells.
    """
    neighbour_offsets = F.array(*[F.lit(d) for d in (-1, 0, 1)])
    customer_cells = (
        customers.select("customer_id", "x_customer_id", "y_customer_id",
                         F.explode(neighbour_offsets).alias("dx"))
        .select("*", F.explode(neighbour_offsets).alias("dy"))
        .select("customer_id", "x_customer_id", "y_customer_id",
                (F.floor(F.col("x_customer_id") / radius) + F.col("dx")).alias("cell_x"),
                (F.floor(F.col("y_customer_id") / radius) + F.col("dy")).alias("cell_y"))
    )
    terminal_cells = terminals.select(
        "terminal_id", "x_terminal_id", "y_terminal_id",
        F.floor(F.col("x_terminal_id") / radius).alias("cell_x"),
        F.floor(F.col("y_terminal_id") / radius).alias("cell_y"),
    )
    distance = F.sqrt(
        (F.col("x_customer_id") - F.col("x_terminal_id")) ** 2 + (F.col("y_customer_id") - F.col("y_terminal_id")) ** 2
    )
    reachable = (
        customer_cells.join(terminal_cells, on=["cell_x", "cell_y"], how="inner")
        .where(distance < radius)
        .groupBy("customer_id")
        .agg(F.array_sort(F.collect_list("terminal_id")).alias("available_terminals"))
    )
    return (
        customers.join(reachable, on="customer_id", how="left")
        .select(
            *customers.columns,
            F.coalesce("available_terminals", F.array().cast("array<long>")).alias("available_terminals"),
        )
        .select("*", F.size("available_terminals").alias("nb_terminals"))
    )
