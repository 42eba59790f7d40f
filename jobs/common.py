"""What every job shares: the command-line skeleton, the config, the Spark session and step logging."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import sys
import time
from typing import Iterator, Sequence

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from conf import Config, ConfigError, console, jars, load_config, storage
from conf.redact import redact_text
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


def base_parser(description: str, example: str) -> argparse.ArgumentParser:
    """A job's parser: its one-line description, --config and --set, and an example at the end of --help."""
    parser = console.ArgumentParser(description=description, epilog=f"example:\n  {example}",
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
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


class _Terminal(_CurrentStderr):
    """The terminal of a quiet console (conf/console.py)."""

    @property
    def stream(self):
        return console.terminal()

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _ElapsedFormatter(logging.Formatter):
    """`  12.3 s  features: rows_out=... seconds=4.1`: the time since the command started, then the message."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.relativeCreated / 1000:7.1f} s  {record.getMessage()}"
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


def _redacting_factory(make):
    """A log record factory whose records have credentials masked (a URI's user-info, secret `name=value` pairs):
    at the record, not at a handler, so lines of libraries with handlers of their own (MLflow's) are masked too."""

    def record(*args, **kwargs) -> logging.LogRecord:
        made = make(*args, **kwargs)
        try:
            made.msg, made.args = redact_text(made.getMessage()), ()
        except (TypeError, ValueError):  # arguments that do not fit the format: the handler reports it, as before
            pass
        return made

    record.redacting = True
    return record


def configure_logging() -> None:
    """The `fraud` logger's step lines on the terminal, every library's INFO lines on stderr: under a quiet console
    (conf/console.py) stderr is the log file, which gets the step lines too."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.captureWarnings(True)
    # the jobs' own lines keep their own handlers: MLflow's store migrations reconfigure the root logger
    if not log.handlers:
        to_stderr = _CurrentStderr()
        to_stderr.setFormatter(logging.Formatter(LOG_FORMAT))
        log.addHandler(to_stderr)
    if console.is_quiet() and not any(isinstance(h, _Terminal) for h in log.handlers):
        to_terminal = _Terminal()
        to_terminal.setFormatter(_ElapsedFormatter())
        log.addHandler(to_terminal)
    if not getattr(logging.getLogRecordFactory(), "redacting", False):
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
    log.setLevel(logging.INFO)
    log.propagate = False
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def session_settings(config: Config, short_job: bool = False, uris: Sequence[str] = ()) -> dict[str, str]:
    """The Spark settings a job's session is built with (see `build_session`); `uris`: the locations the job reads
    and writes besides the config's own (which add S3A's settings when one is on S3)."""
    java_options = {}
    if short_job and config.spark.short_job_java_options and (config.spark.master or "").startswith("local"):
        java_options["spark.driver.extraJavaOptions"] = config.spark.short_job_java_options
    return {
        **java_options,
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        "spark.ui.enabled": str(config.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        **storage.session_settings(config, [*uris, *storage.config_uris(config)]),
        **storage.catalog_settings(config),
        **config.spark.extra,
        **REQUIRED_SPARK_SETTINGS,
    }


def submitted_settings() -> dict[str, str]:
    """The settings spark-submit gave this driver (its --master, --conf and spark-defaults.conf), read from the
    JVM that spark-submit started; {} when the job runs in plain Python (`fraud ...`), where no JVM runs yet."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return {}
    SparkContext._ensure_initialized()  # connects to spark-submit's JVM: starts none
    return dict(SparkConf().getAll())


def build_session(config: Config, short_job: bool = False, uris: Sequence[str] = ()) -> SparkSession:
    """The job's session (or the caller's, if one is running), able to read and write `uris` and the config's
    locations (the S3A connector's jars and settings where one is on S3, `conf.storage`).

    What spark-submit was given (a master, any --conf, spark-defaults.conf) wins over the config's values, which
    fill in only what it left unset; REQUIRED_SPARK_SETTINGS always apply. `short_job`: a job of a minute or so
    whose time is mostly the JVM warming up (the simulator); its local driver JVM gets
    `spark.short_job_java_options` unless `spark.driver.extraJavaOptions` is set otherwise."""
    if config.validation.enabled:
        import_gx_in_background()  # seconds of Python imports, overlapped with the JVM's start
    given = submitted_settings()
    wanted = {"spark.app.name": config.spark.app_name}
    if config.spark.master:
        wanted["spark.master"] = config.spark.master
    if config.spark.driver_memory:
        wanted["spark.driver.memory"] = config.spark.driver_memory
    wanted.update(session_settings(config, short_job, uris))
    bundles = storage.jar_bundles(config, [*uris, *storage.config_uris(config)])
    if bundles and not given:
        # under spark-submit the driver's class path is fixed before Python runs: the jars go on its command line
        # (`--jars`, README "Run against S3")
        wanted["spark.jars"] = ",".join(str(p) for p in jars.fetch(bundles))
    settings = {k: v for k, v in wanted.items() if k not in given or k in REQUIRED_SPARK_SETTINGS}
    if settings.get("spark.master", given.get("spark.master", "")).startswith("local"):
        # workers must run this interpreter (the project's venv), not whatever `python3` is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in settings.items():
        if key.startswith("spark.sql.") and spark.conf.isModifiable(key):
            spark.conf.set(key, value)  # a session reused from the caller (tests) gets them too
        elif key.startswith("spark.hadoop."):
            hadoop.set(key[len("spark.hadoop."):], value)
    spark.sparkContext.setLogLevel("WARN")
    return spark


# MLflow's client reads an HTTPS server's credentials from these (never from the tracking URI on a cluster)
CREDENTIAL_VARIABLES = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD",
                        "token": "MLFLOW_TRACKING_TOKEN"}


def load_tracking_credentials(config: Config, secrets=None) -> list[str]:
    """Put the MLflow server's credentials from the Secrets Manager secret `tracking.credentials_secret` into
    this process's environment, unless one of MLflow's credential variables is already set; returns the names
    of the variables set (never their values). `secrets`: a Secrets Manager client (default: the config's)."""
    arn = config.tracking.credentials_secret
    if not arn or any(os.environ.get(name) for name in CREDENTIAL_VARIABLES.values()):
        return []
    if secrets is None:
        from emr import clients

        secrets = clients.client("secretsmanager", config.aws)
    try:
        value = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
        fields = {k: v for k, v in value.items() if k in CREDENTIAL_VARIABLES and isinstance(v, str) and v}
    except (KeyError, TypeError, AttributeError, ValueError):
        fields = {}
    if not ({"username", "password"} <= set(fields) or "token" in fields):
        raise ConfigError(f"tracking.credentials_secret {arn}: the secret must be a JSON object with username and "
                          "password, or token")
    for key, value in fields.items():
        os.environ[CREDENTIAL_VARIABLES[key]] = value
    return sorted(CREDENTIAL_VARIABLES[key] for key in fields)


@contextlib.contextmanager
def step(name: str) -> Iterator[dict]:
    """Log one line per step with its figures and seconds; the body fills the dict with counts."""
    figures: dict = {}
    start = time.perf_counter()
    yield figures
    shown = " ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in figures.items())
    log.info("%s: %s seconds=%.1f", name, shown, time.perf_counter() - start)
