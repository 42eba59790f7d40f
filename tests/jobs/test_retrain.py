"""Retraining on a cadence: the folds moved to the latest labels, the cadence check, and a retrain of the shared
small run's features under a model name and experiment of its own (the shared champion is left alone)."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from conf import ProtocolConf, load_config
from jobs import retrain
from models.folds import FINAL, TEST, final_fold, prequential_folds, rolling_protocol

END = dt.date(2018, 5, 20)  # the small set's last date (tests/conftest.py)


@pytest.mark.parametrize("folds", [1, 4])
def test_the_newest_test_fold_ends_where_labels_have_matured_and_the_final_block_too(folds):
    protocol = rolling_protocol(ProtocolConf(folds=folds), END)
    newest = prequential_folds(protocol, TEST)[0]
    assert newest.test_end == END - dt.timedelta(days=7)
    assert final_fold(protocol, END).train_end == END - dt.timedelta(days=7) and final_fold(protocol, END).kind == FINAL
    oldest = prequential_folds(protocol, TEST)[-1]
    assert oldest.train_start == protocol.training_start


def test_hourly_protocols_are_not_rolled():
    with pytest.raises(ValueError, match="counts days"):
        rolling_protocol(ProtocolConf(unit="hours"), END)


def test_a_cadence_below_one_day_is_refused():
    from conf import ConfigError

    with pytest.raises(ConfigError, match="retrain.every_days must be 1 or more"):
        load_config(None, ["retrain.every_days=0"])


@pytest.fixture(scope="module")
def retrained(spark, pipeline_run, tmp_path_factory):
    config = dataclasses.replace(
        pipeline_run.config,
        model=dataclasses.replace(pipeline_run.config.model, registered_name="fraud-gbt-retrain-test"),
        tracking=dataclasses.replace(pipeline_run.config.tracking, experiment="fraud-retrain-test"),
        protocol=dataclasses.replace(pipeline_run.config.protocol, folds=1))
    before = retrain.is_due(config, END)
    output = str(tmp_path_factory.mktemp("retrain"))
    summary = retrain.run(spark, config, pipeline_run.config.paths.features, output, if_due=True)
    return config, before, summary, output


def test_a_first_retrain_is_due_and_trains_on_the_latest_labelled_weeks(retrained):
    config, before, summary, _ = retrained
    assert before == (True, "no training run yet")
    assert summary["retrained"] and summary["end"] == str(END)
    (test_fold,) = [f for f in summary["folds"] if f["kind"] == TEST]
    assert test_fold["test"][1] == str(END - dt.timedelta(days=7))
    assert summary["registered_model"]["name"] == "fraud-gbt-retrain-test"
    assert summary["registered_model"]["alias"] in ("champion", "challenger")


def test_a_retrain_within_the_cadence_does_nothing(spark, retrained, pipeline_run):
    config, _, _, output = retrained
    again = retrain.run(spark, config, pipeline_run.config.paths.features, output, END + dt.timedelta(days=6),
                        if_due=True)
    assert not again["retrained"] and "6 of 7 days" in again["reason"]
    assert retrain.is_due(config, END + dt.timedelta(days=7))[0]
