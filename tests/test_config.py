"""Config files and overrides: defaults, environments, and errors that name the file and the key."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from conf import CONF_DIR, FAMILY_INPUTS, MODEL_INPUTS, ConfigError, FeaturesConf, load_config


def test_the_local_default_is_the_handbook_setup():
    config = load_config()
    assert (config.simulator.customers, config.simulator.terminals, config.simulator.days) == (5000, 10000, 183)
    assert config.simulator.start_date == dt.date(2018, 4, 1)
    assert config.features.delay_days == 7 and config.spark.master == "local[2]"


def test_the_default_model_inputs_are_the_books_and_every_family_the_default_features_compute():
    from features.families import family_names

    for config in (load_config(), load_config("emr")):
        families = [name for names in family_names(config.features).values() for name in names]
        assert len(families) == 23 and config.model.features == (*MODEL_INPUTS, *families)
    assert load_config().features == FeaturesConf() and FAMILY_INPUTS == tuple(families)


def test_the_emr_environment_leaves_master_and_memory_to_spark_submit():
    config = load_config("emr")
    assert config.environment == "emr" and config.spark.master is None and config.spark.driver_memory is None
    assert config.paths.raw.startswith("s3://")


def test_overrides_are_typed_and_the_config_is_frozen():
    config = load_config(None, ["simulator.customers=12", "features.customer_windows_days=[2, 3]",
                                "simulator.start_date=2019-01-02"])
    assert config.simulator.customers == 12 and config.features.customer_windows_days == (2, 3)
    assert config.simulator.start_date == dt.date(2019, 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.simulator.customers = 3


@pytest.mark.parametrize("override, message", [
    ("simulator.customer=12", "unknown key simulator.customer"),
    ("simulator.customers=many", "simulator.customers must be of type int"),
    ("validation.enabled=maybe", "validation.enabled must be true or false"),
    ("simulator.start_date=2019-13-01", "simulator.start_date must be a date"),
    ("nonsense", "expected section.key=value"),
    ("protocol.history_days=-7", "protocol.history_days must be 0 or more"),
    ("protocol.unit=weeks", "protocol.unit must be days or hours"),
    ("protocol.training_start_hour=24", "protocol.training_start_hour must be 0 to 23"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_an_unknown_key_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text((CONF_DIR / "local.yaml").read_text() + "\nfeatures:\n  delay: 3\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: unknown key features.delay"):
        load_config(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")
