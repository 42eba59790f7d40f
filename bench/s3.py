"""The feature job on the full-size set, read from and written to local disk and to a local S3 endpoint, in one run.

    .venv/bin/python bench/s3.py [--out bench/out/s3] [--runs 2] [--set simulator.customers=...]

1. The pinned S3A jars fetched into an empty cache (what a fresh install pays once; `conf.jars`).
2. The simulator writes the full-size raw set once to local disk and once to the bucket (`--config s3-local`).
3. `fraud build-features` over all dates, local -> local and S3 -> S3, alternated `--runs` times; wall time of
   the command and each logged step, so that the extra time on S3 shows where it goes.
The local S3 endpoint is moto in server mode (`fraud s3-local`, a separate process on 127.0.0.1): a Python server
that keeps objects in memory, so the ratio bounds what S3A's request pattern costs; it is not AWS's throughput.
Needs the dev install (moto). Prints a table and writes OUT/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import STEP_LINE, fraud, timed  # noqa: E402
from conf import jars  # noqa: E402

BUCKET = "fraud-local"  # the bucket conf/s3-local.yaml names


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def steps(log: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for match in STEP_LINE.finditer(log):
        found[match["step"]] = found.get(match["step"], 0.0) + float(match["seconds"])
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def jar_fetch_seconds() -> float:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        jars.fetch(["s3a"], Path(cache))
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "s3"))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    endpoint = f"http://127.0.0.1:{free_port()}"
    sets = [a for o in args.overrides for a in ("--set", o)]
    s3_sets = ["--config", "s3-local", "--set", f"aws.endpoint_url={endpoint}", *sets]
    results: dict = {"jar_fetch_seconds": round(jar_fetch_seconds(), 1), "endpoint": "moto (fraud s3-local)"}
    server = subprocess.Popen(fraud("s3-local", "--set", f"aws.endpoint_url={endpoint}"), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()  # "S3 endpoint ... serving buckets ...": the bucket exists
        local_raw = out / "raw"
        results["generate_local_seconds"] = round(timed(fraud("generate", "--output", str(local_raw), *sets))[0], 1)
        results["generate_s3_seconds"] = round(timed(fraud("generate", *s3_sets))[0], 1)
        runs = []
        for run in range(args.runs):
            for store, command in (
                    ("local", fraud("build-features", "--input", f"{local_raw}/transactions", "--output",
                                    str(out / "features"), *sets)),
                    ("s3", fraud("build-features", *s3_sets))):
                server_cpu = cpu_seconds(server.pid)
                wall, log = timed(command)
                runs.append({"run": run, "store": store, "wall_seconds": round(wall, 1),
                             "s3_server_cpu_seconds": round(cpu_seconds(server.pid) - server_cpu, 1),
                             "steps": {k: round(v, 1) for k, v in steps(log).items()}})
                print(json.dumps(runs[-1]), flush=True)
        results["feature_runs"] = runs
    finally:
        server.terminate()
        server.wait(timeout=30)
    best = {store: min(r["wall_seconds"] for r in runs if r["store"] == store) for store in ("local", "s3")}
    results["best_wall_seconds"] = best
    results["s3_over_local"] = round(best["s3"] / best["local"], 2)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    print(f"\nS3A jars fetched into an empty cache: {results['jar_fetch_seconds']} s")
    print(f"simulator, full size: local {results['generate_local_seconds']} s, S3 {results['generate_s3_seconds']} s")
    names = list(dict.fromkeys(s for r in results["feature_runs"] for s in r["steps"]))
    print(f"\n{'run':<10}{'wall s':>9}{'S3 server CPU s':>17}" + "".join(f"{n[:22]:>24}" for n in names))
    for r in results["feature_runs"]:
        print(f"{r['store'] + ' ' + str(r['run']):<10}{r['wall_seconds']:>9}{r.get('s3_server_cpu_seconds', ''):>17}"
              + "".join(f"{r['steps'].get(n, 0):>24}" for n in names))
    print(f"\nfeature job, best wall time: S3 / local = {results['s3_over_local']}")


if __name__ == "__main__":
    sys.exit(main())
