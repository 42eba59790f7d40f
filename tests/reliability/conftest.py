"""A tiny raw table for the reliability tests (40 cards, 6 days), made once by the real generator."""
from __future__ import annotations

import pytest

from jobs import generate
from tests.conftest import config_for_tests

TINY_SIMULATION = ("simulator.customers=40", "simulator.terminals=80", "simulator.days=6",
                   "simulator.start_date=2018-04-01", "simulator.seed=3")


@pytest.fixture(scope="session")
def tiny_raw(spark, tmp_path_factory) -> str:
    """The raw transactions table of the tiny set (2018-04-01 .. 04-06, about 200 rows)."""
    folder = tmp_path_factory.mktemp("tiny_raw")
    generate.run(spark, config_for_tests(*TINY_SIMULATION), str(folder))
    return f"{folder}/transactions"
