"""The EMR command line: `fraud emr COMMAND` and `python -m emr COMMAND`.

    build   [--output dist/emr] [--no-env]       the --py-files zip, entry points, config, bootstrap, packed venv
    deploy  [--build-dir dist/emr]               upload them to s3://<emr.bucket>/<emr.prefix>/<git commit>/
    run     [--build-dir dist/emr] [--cluster-id J] [--keep-cluster]   run the steps on EMR and wait for them
    plan    [--build-dir dist/emr]               print the run's API requests as JSON, without calling AWS
    publish                                      register the Athena tables in the Glue Data Catalog from here
    iam     [--output DIR]                       print or write the IAM documents of the roles
    schedule [--build-dir dist/emr] [--dry-run]  the nightly and weekly schedules (Scheduler, Step Functions)

Every command takes `--config local|emr|emr-demo|FILE` (default emr) and `--set section.key=value` overrides; the
overrides given to `run` are passed on to every step, so the jobs see the config the runner saw (an override
that carries a credential is refused there). Error messages go through `conf.redact`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from conf import CONF_DIR, ENVIRONMENTS, Config, ConfigError, load_config
from conf.redact import redact_text
from emr import clients, cluster, package, policies, schedule
from emr.layout import S3Layout
from emr.runner import DeployError, EmrPipeline
from emr.security import SecurityConfigurationError

DEFAULT_BUILD = "dist/emr"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fraud emr", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "deploy", "run", "plan", "publish", "iam", "schedule"):
        sub = commands.add_parser(name)
        sub.add_argument("--config", default="emr", help="config file or environment name; default emr")
        sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
        if name == "build":
            sub.add_argument("--output", default=DEFAULT_BUILD)
            sub.add_argument("--no-env", action="store_true", help="skip the packed venv (slow: installs all)")
        if name in ("deploy", "run", "plan", "schedule"):
            sub.add_argument("--build-dir", default=DEFAULT_BUILD)
        if name == "schedule":
            sub.add_argument("--dry-run", action="store_true", help="print the requests, call nothing")
        if name in ("run", "plan"):
            sub.add_argument("--cluster-id", help="add the steps to this running cluster (default: emr.cluster_id)")
        if name == "run":
            sub.add_argument("--keep-cluster", action="store_true", help="do not end the new cluster afterwards")
        if name == "iam":
            sub.add_argument("--output", help="folder for the JSON files (default: print)")
    return parser


def config_file(name: str) -> Path:
    return CONF_DIR / f"{name}.yaml" if name in ENVIRONMENTS else Path(name)


def _layout(config: Config, build_dir: Path, need_build: bool = False) -> tuple[S3Layout, str]:
    """The S3 layout of the last build (or, for a plan with no build, of this checkout) and the config's name."""
    if need_build or (build_dir / "manifest.json").exists():
        manifest = package.read_manifest(build_dir)
    else:
        pinned = package.requirements()
        manifest = {"version": package.git_version(), "env_digest": package.requirements_digest(pinned),
                    "config": None}
    return EmrPipeline(config).layout(manifest), Path(manifest["config"] or "").name


def _build(args, config: Config) -> int:
    manifest = package.build(Path(args.output), config_file(args.config), config.emr.python_prefix,
                             with_environment=not args.no_env)
    if manifest["version"].endswith("-dirty"):
        print(f"fraud emr build: tracked files differ from commit {manifest['version'][:12]}: the artifacts are "
              f"versioned {manifest['version']}, which no commit reproduces", file=sys.stderr)
    print(json.dumps({"output": args.output, "version": manifest["version"],
                      "environment_built": manifest["environment_built"], "files": len(manifest["files"])}))
    return 0


def _plan(args, config: Config) -> int:
    s3, name = _layout(config, Path(args.build_dir))
    name = name or config_file(args.config).name
    print(json.dumps(cluster.plan(config, s3, name, tuple(args.overrides), args.cluster_id), indent=2))
    return 0


def _pipeline(config: Config) -> EmrPipeline:
    aws = config.aws
    return EmrPipeline(config, s3=clients.client("s3", aws), emr=clients.client("emr", aws),
                       glue=clients.client("glue", aws), sns=clients.client("sns", aws))


def _run(args, config: Config) -> int:
    s3, name = _layout(config, Path(args.build_dir), need_build=True)
    return _pipeline(config).run(s3, name, tuple(args.overrides), args.cluster_id, args.keep_cluster)


def _schedule(args, config: Config) -> int:
    """Create or update the two state machines and their schedules (or print the requests)."""
    s3, name = _layout(config, Path(args.build_dir), need_build=not args.dry_run)
    planned = schedule.requests(config, s3, name or config_file(args.config).name)
    if args.dry_run:
        print(json.dumps(planned, indent=2))
        return 0
    aws = config.aws
    done = schedule.apply(planned, clients.client("emr", aws), clients.client("stepfunctions", aws),
                          clients.client("scheduler", aws))
    print(json.dumps(done, indent=2))
    return 0


def _iam(args, config: Config) -> int:
    docs = policies.documents(config)
    if not args.output:
        print(json.dumps(docs, indent=2))
        return 0
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    for role, parts in docs.items():
        for part, body in parts.items():
            if isinstance(body, dict):
                (folder / f"{role}.{part}.json").write_text(json.dumps(body, indent=2) + "\n")
    (folder / "roles.json").write_text(json.dumps(docs, indent=2) + "\n")
    print(f"wrote {folder}/roles.json and one file per policy")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(config_file(args.config), args.overrides)
        if args.command == "build":
            return _build(args, config)
        if args.command == "plan":
            return _plan(args, config)
        if args.command == "deploy":
            _pipeline(config).deploy(Path(args.build_dir))
            return 0
        if args.command == "run":
            return _run(args, config)
        if args.command == "publish":
            _pipeline(config).publish()
            return 0
        if args.command == "schedule":
            return _schedule(args, config)
        return _iam(args, config)
    except (ConfigError, package.BuildError, DeployError, SecurityConfigurationError, ClientError,
            BotoCoreError) as error:
        print(f"fraud emr {args.command}: {type(error).__name__}: {redact_text(str(error))}", file=sys.stderr)
        return 1
