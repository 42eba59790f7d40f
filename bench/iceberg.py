"""The jobs before and after the output tables became Iceberg tables, at full size, on local disk and on a local
S3 endpoint, in one run.

    .venv/bin/python bench/iceberg.py [--before 70c7163~3] [--out bench/out/iceberg] [--set key=value ...]

Variants, each a sequence of the jobs as users run them (`generate`, `build-features`, `train` with the pipeline's
grid, `score` of the last `scoring.pipeline_days`, `monitor`), every job's wall time measured:
- `before-local`, `before-s3`: the code at --before (Parquet folders committed by directory renames), from a git
  worktree of that commit, run with this checkout's venv;
- `folders-local`: this code without a catalog (Parquet folders, Spark's dynamic partition overwrite: the default
  local run);
- `iceberg-local`: this code with the embedded JDBC catalog and the tables on local disk;
- `iceberg-s3`: this code with `--config s3-local` (JDBC catalog, tables on the local S3 endpoint).
The local S3 endpoint is moto in server mode (a Python server keeping objects in memory): the S3 figures bound what
the request pattern costs, not AWS's throughput. Prints a table with the ratios after / before and writes
OUT/results.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.s3 import free_port  # noqa: E402
from conf import load_config  # noqa: E402

BEFORE = "fa2b5d2"  # the last commit whose jobs commit Parquet folders by renames
JOBS = ("generate", "build-features", "train", "score", "monitor")


def command(*args: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "python"), "-m", "jobs.cli", *args]


def timed(source: Path, args: list[str], log: Path) -> float:
    start = time.perf_counter()
    with open(log, "a") as out:
        out.write(f"\n$ fraud {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(command(*args), cwd=source, stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(source)})
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): fraud {' '.join(args)}; see {log}")
    return time.perf_counter() - start


def grid_setting() -> str:
    """`model.grid` set to the pipeline's short grid (what `fraud pipeline` trains with)."""
    grid = load_config("local").model.pipeline_grid
    return "model.grid={" + ", ".join(f"{k}: [{', '.join(map(str, v))}]" for k, v in grid.items()) + "}"


def variant(name: str, source: Path, out: Path, base: list[str], sets: list[str]) -> dict:
    """Every job once in folder `out/name` (or the bucket, for S3 variants): {job: seconds}."""
    root = out / name
    root.mkdir(parents=True, exist_ok=True)
    log = root / "jobs.log"
    local = "s3-local" not in base
    paths = ([f"paths.{p}={root / p}" for p in ("raw", "features", "training", "publish")] if local else
             [f"paths.{p}=s3a://fraud-local/{name}/{p}" for p in ("raw", "features", "training", "publish")])
    store = [f"tracking.tracking_uri=sqlite:///{root}/mlflow.db", f"tracking.artifact_root={root}/artifacts"
             if local else f"tracking.artifact_root=s3a://fraud-local/{name}/mlflow"]
    catalog = [f"catalog.uri=jdbc:sqlite:{root}/catalog.db"] if "iceberg" in name else []
    settings = [a for s in (*paths, *store, *catalog, *sets) for a in ("--set", s)]
    config = load_config(None if local else "s3-local", [*paths, *sets])
    sim = config.simulator
    last = sim.start_date + dt.timedelta(days=sim.days - 1)
    first = last - dt.timedelta(days=config.scoring.pipeline_days - 1)
    features, publish = paths[1].split("=", 1)[1], paths[3].split("=", 1)[1]
    seconds = {
        "generate": timed(source, ["generate", *base, *settings], log),
        "build-features": timed(source, ["build-features", *base, *settings], log),
        "train": timed(source, ["train", *base, *settings, "--set", grid_setting()], log),
        "score": timed(source, ["score", *base, *settings, "--features", features, "--output", publish,
                                "--start-date", str(first), "--end-date", str(last)], log),
        "monitor": timed(source, ["monitor", *base, *settings, "--date", str(first), "--end-date", str(last)], log),
    }
    seconds["pipeline"] = sum(seconds.values())
    return {job: round(s, 1) for job, s in seconds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "iceberg"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--only", action="append", help="run only these variants")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    before = out / "before-src"
    if not before.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.before], cwd=ROOT, check=True)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    endpoint = f"http://127.0.0.1:{free_port()}"
    s3 = ["--config", "s3-local", "--set", f"aws.endpoint_url={endpoint}"]
    iceberg_local = ["--set", "catalog.kind=jdbc", "--set", f"catalog.warehouse={out}/warehouse"]
    variants = {"before-local": (before, []), "folders-local": (ROOT, []), "iceberg-local": (ROOT, iceberg_local),
                "before-s3": (before, s3), "iceberg-s3": (ROOT, s3)}
    chosen = args.only or list(variants)
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "fraud"), "s3-local", "--set",
                               f"aws.endpoint_url={endpoint}"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    saved = out / "results.json"  # a variant run again (--only) replaces its own figures, the others stay
    results = json.loads(saved.read_text()) if saved.exists() and args.only else {}
    results = {"before": args.before, "overrides": args.overrides, "variants": results.get("variants", {})}
    try:
        server.stdout.readline()  # the bucket exists
        for name in chosen:
            source, base = variants[name]
            results["variants"][name] = variant(name, source, out, base, args.overrides)
            print(name, json.dumps(results["variants"][name]), flush=True)
            (out / "results.json").write_text(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    runs = results["variants"]
    print(f"\n{'variant':<16}" + "".join(f"{j:>16}" for j in (*JOBS, "pipeline")))
    for name, seconds in runs.items():
        print(f"{name:<16}" + "".join(f"{seconds[j]:>16}" for j in (*JOBS, "pipeline")))
    for after, before in (("folders-local", "before-local"), ("iceberg-local", "before-local"),
                          ("iceberg-s3", "before-s3")):
        if after in runs and before in runs:
            print(f"{after} / {before}: " + ", ".join(
                f"{j} {runs[after][j] / runs[before][j]:.2f}" for j in ("build-features", "score", "pipeline")))


if __name__ == "__main__":
    sys.exit(main())
