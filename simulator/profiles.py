"""Customer and terminal profiles of the reference simulator (handbook §1).

Every draw is a hash of (seed, stream, entity id, draw number), so a profile depends only on the seed and the
entity's id, never on how the ids are split across tasks. The same hash is computed by Spark (`hashed_uniform`, the
terminal table) and by numpy inside tasks (`simulator.hashing`, the customer table and the generation pass, which
need every terminal's position without a join).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, functions as F, types as T
from pyspark.sql.pandas.types import to_arrow_schema

from conf import SimulatorConf
from simulator.hashing import hashed_uniform as np_hashed_uniform

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


CUSTOMER_PROFILE_SCHEMA = T.StructType([
    T.StructField("customer_id", T.LongType(), False),
    *[T.StructField(name, T.DoubleType(), False) for name in ("x_customer_id", "y_customer_id", "mean_amount",
                                                                "std_amount", "mean_nb_tx_per_day")],
    T.StructField("available_terminals", T.ArrayType(T.LongType(), False), False),
    T.StructField("nb_terminals", T.IntegerType(), False),
])

CUSTOMER_PROFILE_ARROW_SCHEMA = to_arrow_schema(CUSTOMER_PROFILE_SCHEMA)


def customer_profiles(spark: SparkSession, sim: SimulatorConf) -> DataFrame:
    """Location ~ U(0, grid)^2, mean amount ~ U(5, 100), std = mean / 2, mean daily count ~ U(0, 4), and the
    sorted ids of the terminals within `radius` (`available_terminals`, `nb_terminals`)."""
    def profiles(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        grid = TerminalGrid(*terminal_positions(sim), sim.radius, sim.grid_size)
        for batch in batches:
            columns = customer_profile_arrays(sim, batch.column("id").to_numpy())
            reachable = [grid.within(x, y) for x, y in zip(columns["x_customer_id"], columns["y_customer_id"])]
            sizes = np.array([len(r) for r in reachable], dtype=np.int32)
            offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int32)
            values = np.concatenate([np.zeros(0, dtype=np.int64), *reachable])
            columns["available_terminals"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
            columns["nb_terminals"] = sizes
            yield pa.RecordBatch.from_arrays([pa.array(columns[f.name]) if f.name != "available_terminals"
                                              else columns[f.name] for f in CUSTOMER_PROFILE_SCHEMA],
                                             schema=CUSTOMER_PROFILE_ARROW_SCHEMA)
    return _id_range(spark, sim.customers, sim.customers_per_task).mapInArrow(profiles, CUSTOMER_PROFILE_SCHEMA)


def terminal_profiles(spark: SparkSession, sim: SimulatorConf) -> DataFrame:
    """Location ~ U(0, grid)^2."""
    draw = partial(hashed_uniform, sim.seed, STREAM_TERMINAL_PROFILE, F.col("id"))
    return _id_range(spark, sim.terminals, 4 * sim.customers_per_task).select(
        F.col("id").alias("terminal_id"),
        draw(0, 0.0, sim.grid_size).alias("x_terminal_id"),
        draw(1, 0.0, sim.grid_size).alias("y_terminal_id"),
    )


class TerminalGrid:
    """Every terminal's position, bucketed in square cells of side `radius`, so that the terminals within the
    radius of a point are found among the 3 x 3 cells around it. Built inside each generation task from the
    hashed draws (`terminal_positions`), so that no terminal table is joined or shipped."""

    def __init__(self, x: np.ndarray, y: np.ndarray, radius: float, grid_size: float):
        self.x, self.y, self.radius = x, y, radius
        self.side = int(math.ceil(grid_size / radius)) + 1  # cells per row; points lie in [0, grid_size)
        cell = np.floor(x / radius).astype(np.int64) * self.side + np.floor(y / radius).astype(np.int64)
        self.order = np.argsort(cell, kind="stable")
        self.starts = np.searchsorted(cell[self.order], np.arange(self.side * self.side + 1))

    def within(self, px: float, py: float) -> np.ndarray:
        """Sorted ids of the terminals at Euclidean distance < radius of (px, py)."""
        cx, cy = int(math.floor(px / self.radius)), int(math.floor(py / self.radius))
        cells = [x * self.side + y for x in (cx - 1, cx, cx + 1) for y in (cy - 1, cy, cy + 1)
                 if 0 <= x < self.side and 0 <= y < self.side]
        candidates = np.concatenate([self.order[self.starts[c]:self.starts[c + 1]] for c in cells])
        distance = np.sqrt((px - self.x[candidates]) ** 2 + (py - self.y[candidates]) ** 2)
        return np.sort(candidates[distance < self.radius]).astype(np.int64)


def terminal_positions(sim: SimulatorConf) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of terminals 0 .. terminals - 1, equal to the `terminal_profiles` table's columns."""
    ids = np.arange(sim.terminals, dtype=np.int64)
    return (np_hashed_uniform(sim.seed, STREAM_TERMINAL_PROFILE, ids, 0, 0.0, sim.grid_size),
            np_hashed_uniform(sim.seed, STREAM_TERMINAL_PROFILE, ids, 1, 0.0, sim.grid_size))


def customer_profile_arrays(sim: SimulatorConf, ids: np.ndarray) -> dict[str, np.ndarray]:
    """The `customer_profiles` columns of these ids, without the available terminals."""
    def draw(number: int, low: float, high: float) -> np.ndarray:
        return np_hashed_uniform(sim.seed, STREAM_CUSTOMER_PROFILE, ids, number, low, high)
    mean_amount = draw(2, 5.0, 100.0)
    return {"customer_id": ids.astype(np.int64), "x_customer_id": draw(0, 0.0, sim.grid_size),
            "y_customer_id": draw(1, 0.0, sim.grid_size), "mean_amount": mean_amount, "std_amount": mean_amount / 2,
            "mean_nb_tx_per_day": draw(3, 0.0, 4.0)}
