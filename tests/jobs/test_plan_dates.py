"""Dates read from files become partition paths only once parsed: a text date that is not YYYY-MM-DD, or any value
that is not a `datetime.date`, stops before a path is built or anything is deleted. No Spark session needed."""
from __future__ import annotations

import datetime as dt

import pytest

from expectations.contracts import ContractError
from jobs.files import partition_folder, plan_date, remove_partitions


def test_a_plan_date_is_strictly_iso():
    assert plan_date("2018-04-01", "s3://b/_runs/plan.json", "dates[0]") == dt.date(2018, 4, 1)


@pytest.mark.parametrize("value", ["2018-04-01/../..", "*", "2018-4-1", "2018-02-30", "", None, 20180401,
                                   "2018-04-01T00:00", "../2018-04", "2018-W14-1", "20180401"])
def test_anything_else_in_a_plan_is_an_error_naming_the_file_and_field(value):
    with pytest.raises(ContractError) as raised:
        plan_date(value, "s3://b/_runs/plan.json", "dates[0]")
    assert "s3://b/_runs/plan.json" in str(raised.value) and "dates[0]" in str(raised.value)


def test_only_a_date_becomes_a_partition_folder():
    assert partition_folder("s3://b/features", dt.date(2018, 4, 1)) == "s3://b/features/tx_date=2018-04-01"
    for value in ("2018-04-01/../..", dt.datetime(2018, 4, 1, 12), "*"):
        with pytest.raises(ContractError, match="only parsed dates become partition paths"):
            partition_folder("s3://b/features", value)


def test_removing_partitions_checks_every_date_before_touching_the_table():
    # no session is given: a bad date must stop the call before any file system is reached
    with pytest.raises(ContractError):
        remove_partitions(None, "s3://b/features", [dt.date(2018, 4, 1), "2018-04-02/../../raw"])
