"""What every job shares: the command-line skeleton, the config, the Spark session and step logging."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import sys
import time
from typing import Iterator, Sequence

from pyspark.sql import SparkSession

from conf import Config, load_config
from expectations.contracts import import_gx_in_background

log = logging.getLogger("fraud")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Settings every job depends on for correct results, whatever the environment's config says.
REQUIRED_SPARK_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # whole window partitions go to numpy at once: fewer, larger Arrow batches
    "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
    "spark.sql.legacy.timeParserPolicy": "EXCEPTION",
    # A contract's row rules are one predicate over every model input (the quarantine reason), and Catalyst copies
    # a constraint once per alias of each expression in it (here each integer input cast to double): 2^n copies,
    # which at 20+ integer inputs no longer fits the driver's heap (scoring joins its own output, which asks for them)
    "spark.sql.constraintPropagation.enabled": "false",
}


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", default=None, help="config file or environment name (local, emr); default local")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config key; repeatable")
    return parser


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from exc


def parse_config(args: argparse.Namespace, extra_overrides: Sequence[str] = ()) -> Config:
    return load_config(args.config, [*extra_overrides, *args.overrides])


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it), not the one seen at setup."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # the jobs' own lines keep their own handler: MLflow's store migrations reconfigure the root logger
    if not log.handlers:
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def session_settings(config: Config, short_job: bool = False) -> dict[str, str]:
    """The Spark settings a job's session is built with (see `build_session`)."""
    java_options = {}
    if short_job and config.spark.short_job_java_options and (config.spark.master or "").startswith("local"):
        java_options["spark.driver.extraJavaOptions"] = config.spark.short_job_java_options
    return {
        **java_options,
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        "spark.ui.enabled": str(config.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        **config.spark.extra,
        **REQUIRED_SPARK_SETTINGS,
    }


def build_session(config: Config, short_job: bool = False) -> SparkSession:
    """The job's session (or the caller's, if one is running). `short_job`: a job of a minute or so whose time is
    mostly the JVM warming up (the simulator); its local driver JVM gets `spark.short_job_java_options` unless the
    config sets `spark.driver.extraJavaOptions` itself."""
    if config.validation.enabled:
        import_gx_in_background()  # seconds of Python imports, overlapped with the JVM's start
    builder = SparkSession.builder.appName(config.spark.app_name)
    if config.spark.master:
        builder = builder.master(config.spark.master)
        if config.spark.master.startswith("local"):
            # workers must run this interpreter (the project's venv), not whatever `python3` is on PATH
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if config.spark.driver_memory:
        builder = builder.config("spark.driver.memory", config.spark.driver_memory)
    settings = session_settings(config, short_job)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in settings.items():
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)  # a session reused from the caller (tests) gets them too
    spark.sparkContext.setLogLevel("WARN")
    return spark


@contextlib.contextmanager
def step(name: str) -> Iterator[dict]:
    """Log one line per step with its figures and seconds; the body fills the dict with counts."""
    figures: dict = {}
    start = time.perf_counter()
    yield figures
    shown = " ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in figures.items())
    log.info("%s: %s seconds=%.1f", name, shown, time.perf_counter() - start)
