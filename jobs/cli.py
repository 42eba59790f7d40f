"""The `fraud` console command: one subcommand per job, each taking the same arguments as its spark-submit form.

    fraud pipeline | ingest | generate | build-features | train | score | monitor | publish | query | definitions
          | audit | maintain [ARGS...]
    fraud jars [BUNDLE ...]                                            (conf/jars.py: fetch the pinned JVM jars)
    fraud s3-local [--config s3-local]                 (emr/local_s3.py: a local S3 endpoint with the config's buckets)
    fraud emr build | deploy | run | plan | publish | iam [ARGS...]     (emr/cli.py: packaging and EMR runs)
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable

from conf import ConfigError
from conf.redact import redact_text
from conf.jars import JarFetchError
from conf.storage import StorageError
from emr.queries import QueryError
from expectations.contracts import ContractError


# subcommand -> "module:function", imported on use: importing every job (MLflow, scikit-learn, SHAP, matplotlib)
# takes seconds before any JVM starts, which `fraud generate` or `fraud build-features` would pay for nothing
JOBS = {"pipeline": "jobs.pipeline:main", "ingest": "jobs.cli:_ingest", "generate": "jobs.generate:main",
        "build-features": "jobs.build_features:main", "train": "jobs.train:main", "score": "jobs.score:main",
        "monitor": "jobs.monitor:main", "publish": "jobs.publish:main", "query": "jobs.query:main",
        "definitions": "jobs.definitions:main", "emr": "emr.cli:main", "jars": "conf.jars:main",
        "s3-local": "emr.local_s3:main", "audit": "jobs.audit:main", "maintain": "jobs.maintain:main"}


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
    if not argv or argv[0] not in JOBS:
        print(f"usage: fraud {{{','.join(JOBS)}}} [ARGS...]   (fraud JOB --help for a job's arguments)",
              file=sys.stderr)
        return 2
    try:
        return _job(argv[0])(argv[1:])
    except (ConfigError, ContractError, LookupError, QueryError, StorageError, JarFetchError) as error:
        print(f"fraud {argv[0]}: {type(error).__name__}: {redact_text(str(error))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
