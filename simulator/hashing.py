"""Spark's `xxhash64` of integer columns, in numpy.

The simulator draws every profile value from `xxhash64(seed, stream, id, draw)` (see `simulator.profiles`). Spark
computes it for the profile tables; the generation pass needs the same values inside its Python tasks (the
positions of every terminal, the profiles of the cards that share a fraud pool), so it recomputes them here
rather than joining tables. The arithmetic is Spark's `XXH64.hashInt` / `hashLong` with Spark's default seed
42, each column's hash seeding the next; a test checks it against Spark's own function.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

SPARK_SEED = 42
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def _hash_int(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    low32 = values.astype(np.int64).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    h = seed + _P5 + np.uint64(4)
    h = h ^ (low32 * _P1)
    return _fmix(_rotl(h, 23) * _P2 + _P3)


def _hash_long(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    h = seed + _P5 + np.uint64(8)
    h = h ^ (_rotl(values.astype(np.int64).astype(np.uint64) * _P2, 31) * _P1)
    return _fmix(_rotl(h, 27) * _P1 + _P4)


def xxhash64(columns: Sequence[tuple[np.ndarray | int, str]]) -> np.ndarray:
    """`F.xxhash64(*columns)` for non-null integer columns given as (values, "int" | "long"); scalars broadcast.
    Returns the signed 64-bit hashes Spark returns."""
    arrays = [np.size(values) for values, _ in columns if np.ndim(values)]
    size = max(arrays) if arrays else 1
    h = np.full(size, SPARK_SEED, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for values, kind in columns:
            values = np.broadcast_to(np.asarray(values, dtype=np.int64), (size,))
            h = _hash_int(values, h) if kind == "int" else _hash_long(values, h)
    return h.view(np.int64)


def hashed_uniform(seed: int, stream: int, ids: np.ndarray, draw: int, low: float, high: float) -> np.ndarray:
    """numpy twin of `simulator.profiles.hashed_uniform`: U(low, high) from the top 53 bits of the hash."""
    bits = xxhash64([(seed, "int"), (stream, "int"), (ids, "long"), (draw, "int")]).view(np.uint64) >> np.uint64(11)
    return low + bits.astype(np.float64) * ((high - low) / float(1 << 53))
