"""The `fraud` console command: one subcommand per job, each taking the same arguments as its spark-submit form.

    fraud pipeline | daily | retrain | ingest | generate | build-features | train | score | monitor | publish | query
          | definitions | audit | maintain | ui [ARGS...]
    fraud jars [BUNDLE ...]                                            (conf/jars.py: fetch the pinned JVM jars)
    fraud s3-local [--config s3-local]                 (emr/local_s3.py: a local S3 endpoint with the config's buckets)
    fraud emr build | deploy | run | plan | publish | iam [ARGS...]     (emr/cli.py: packaging and EMR runs)

Library logs (Spark's, MLflow's, Great Expectations') go to a log file whose path is printed first
(`logs/` or $FRAUD_LOG_DIR); `fraud -v COMMAND ...` (or --verbose anywhere) prints them instead.
"""
from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Callable

from conf import ConfigError, console
from conf.redact import redact_text
from conf.jars import JarFetchError
from conf.storage import StorageError
from emr.queries import QueryError
from expectations.contracts import ContractError


# subcommand -> "module:function", imported on use: importing every job (MLflow, scikit-learn, SHAP, matplotlib)
# takes seconds before any JVM starts, which `fraud generate` or `fraud build-features` would pay for nothing
JOBS = {"pipeline": "jobs.pipeline:main", "daily": "jobs.daily:main", "retrain": "jobs.retrain:main",
        "ingest": "jobs.cli:_ingest", "generate": "jobs.generate:main",
        "build-features": "jobs.build_features:main", "train": "jobs.train:main", "score": "jobs.score:main",
        "monitor": "jobs.monitor:main", "publish": "jobs.publish:main", "query": "jobs.query:main",
        "definitions": "jobs.definitions:main", "emr": "emr.cli:main", "jars": "conf.jars:main",
        "s3-local": "emr.local_s3:main", "audit": "jobs.audit:main", "maintain": "jobs.maintain:main", "ui": "jobs.ui:main"}


SUMMARIES = {  # `fraud --help`: one line a subcommand (each has its own --help with an example)
    "pipeline": "simulate, build features, train, score and monitor on the config's paths",
    "daily": "one night: features, scores and queue of a day, monitoring, maintenance",
    "retrain": "a new model on the latest labelled weeks, through the champion/challenger gate",
    "ingest": "CSV or Parquet of another shape into the raw table, through a mapping",
    "generate": "simulate transactions with known fraud (the handbook's simulator)",
    "build-features": "the windowed card and terminal features of raw dates",
    "train": "prequential grid search, test folds, the final model in the MLflow registry",
    "score": "score dates with the champion: scored transactions, alert queue, report",
    "monitor": "drift and mature-label quality of scored dates",
    "publish": "register the tables in the Glue Data Catalog for Athena",
    "query": "run a saved analyst query locally (DuckDB)",
    "definitions": "write the Athena DDL, saved queries and QuickSight requests",
    "audit": "what a re-run changed in a table (Iceberg snapshots)",
    "maintain": "expire old snapshots, remove orphan files (Iceberg)",
    "ui": "the MLflow UI on the configured store (runs, metrics, plots, registry)",
    "emr": "build, deploy, run, plan, schedule and iam on Amazon EMR",
    "jars": "fetch the pinned JVM jars (S3A, Iceberg) into the cache",
    "s3-local": "a local S3 and Glue endpoint (moto) for the s3-local config",
}


def usage() -> str:
    lines = [f"  {name:<16}{SUMMARIES[name]}" for name in JOBS]
    return "\n".join(["usage: fraud [-v] COMMAND [ARGS...]   (fraud COMMAND --help: its arguments and an example)",
                      "  -v, --verbose   library logs on the terminal, not in the log file", "",
                      *lines, "", "example:", "  fraud pipeline && fraud query daily_volume"])


def _job(name: str) -> Callable[[list[str]], int]:
    module, function = JOBS[name].split(":")
    return getattr(importlib.import_module(module), function)


def _ingest(argv: list[str]) -> int:
    """Imported on use, so that a bad mapping is reported as a MappingError like the other jobs' errors."""
    from ingest.mapping import MappingError
    from jobs import ingest_source

    try:
        return ingest_source.main(argv)
    except MappingError as error:
        print(f"fraud ingest: MappingError: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not argv or argv[0] not in JOBS:
        print(usage(), file=sys.stderr)
        return 2
    try:
        return _job(argv[0])(argv[1:])
    except (ConfigError, ContractError, LookupError, QueryError, StorageError, JarFetchError) as error:
        message = f"fraud {argv[0]}: {type(error).__name__}: {redact_text(str(error))}"
        print(message, file=console.terminal())
        if console.is_quiet():
            print(message, file=sys.stderr)  # the log file
        return 1


VERBOSE = ("-v", "--verbose")


def console_main() -> int:
    """The `fraud` command: `main` under a quiet console unless -v/--verbose is given (conf/console.py)."""
    argv = sys.argv[1:]
    verbose = any(a in VERBOSE for a in argv)
    argv = [a for a in argv if a not in VERBOSE]
    if verbose or not argv or argv[0] not in JOBS or {"-h", "--help"} & set(argv):
        return main(argv)
    path = console.quiet(argv[0], os.environ.get("FRAUD_LOG_DIR", "logs"))
    print(f"log: {path}   (fraud -v {argv[0]} ... prints it here)", file=console.terminal())
    try:
        return main(argv)
    except Exception:
        failure = traceback.format_exc()
        print(redact_text(failure), file=console.terminal(), end="")
        print(redact_text(failure), file=sys.stderr, end="")
        print(f"log: {path}", file=console.terminal())
        return 1


if __name__ == "__main__":
    sys.exit(console_main())
