"""The `fraud` console command: one subcommand per job, each taking the same arguments as its spark-submit form.

    fraud pipeline | ingest | generate | build-features | train | score | monitor | publish | query | definitions
          [ARGS...]
    fraud emr build | deploy | run | plan | publish | iam [ARGS...]     (emr/cli.py: packaging and EMR runs)
"""
from __future__ import annotations

import sys
from typing import Callable

from conf import ConfigError
from emr.queries import QueryError
from expectations.contracts import ContractError


def _jobs() -> dict[str, Callable[[list[str]], int]]:
    from emr import cli as emr_cli
    from jobs import build_features, definitions, generate, monitor, pipeline, publish, query, score, train

    return {"pipeline": pipeline.main, "ingest": _ingest, "generate": generate.main,
            "build-features": build_features.main, "train": train.main, "score": score.main,
            "monitor": monitor.main, "publish": publish.main, "query": query.main,
            "definitions": definitions.main, "emr": emr_cli.main}


def _ingest(argv: list[str]) -> int:
    """Imported on use, so that a bad mapping is reported as a MappingError like the other jobs' errors."""
    from ingest.mapping import MappingError
    from jobs import ingest

    try:
        return ingest.main(argv)
    except MappingError as error:
        print(f"fraud ingest: MappingError: {error}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    jobs = _jobs()
    if not argv or argv[0] not in jobs:
        print(f"usage: fraud {{{','.join(jobs)}}} [ARGS...]   (fraud JOB --help for a job's arguments)",
              file=sys.stderr)
        return 2
    try:
        return jobs[argv[0]](argv[1:])
    except (ConfigError, ContractError, LookupError, QueryError) as error:
        print(f"fraud {argv[0]}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
