"""Benchmark of the foundation jobs on this machine, peers measured in the same run.

    .venv/bin/python bench/run.py [--out bench/out] [--peers ../shared/peers] [--sizes 0.25,0.5,1]

1. The simulator at each size (customers and terminals scaled, 183 days), wall time of the whole command and the
   job's own time after the Spark session started; the handbook statistics of the full-size set.
2. The feature job on the full-size set (the default, without its Great Expectations validation, and computing only
   the book's 15 inputs as the peers do) against the pandas and DuckDB peers on the same rows, with ratios, and a
   row-by-row parity check against both peers.
Needs the dev install (duckdb). Prints a results table and writes it as JSON to OUT/results.json.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.parity import compare  # noqa: E402

STEP_LINE = re.compile(r"fraud: (?P<step>[^:]+): .*seconds=(?P<seconds>[0-9.]+)")


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"failed: {' '.join(command)}")
    return wall, done.stdout + done.stderr


def job_seconds(log: str) -> float:
    """The sum of the job's logged steps: its time once the Spark session is up."""
    return sum(float(m["seconds"]) for m in STEP_LINE.finditer(log))


# the peers compute the handbook's 15 inputs only; the job's default adds the issue 9 families (23 more inputs)
BOOK_FEATURES_ONLY = [arg for switch in ("card_behaviour_windows_days=[]", "robust_zscore_days=0",
                                         "large_amounts_days=0", "terminal_activity_windows_days=[]", "novelty_days=0",
                                         "delayed_risk_windows_days=[]") for arg in ("--set", f"features.{switch}")]


def fraud(*args: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "fraud"), *args]


def bench_simulator(out: Path, sizes: list[float]) -> list[dict]:
    rows = []
    for size in sizes:
        customers, terminals = round(5_000 * size), round(10_000 * size)
        wall, log = timed(fraud("generate", "--output", str(out / f"raw_{size}"), "--customers", str(customers),
                                "--terminals", str(terminals)))
        summary = json.loads(next(line for line in log.splitlines() if line.startswith("SUMMARY "))[8:])
        rows.append({"size": size, "customers": customers, "wall_s": round(wall, 1),
                     "job_s": round(job_seconds(log), 1), **summary})
        print(f"generate x{size}: {rows[-1]['transactions']:,} rows, wall {wall:.1f} s, job {rows[-1]['job_s']} s",
              flush=True)
    return rows


def slope(rows: list[dict], key: str) -> float:
    """Least-squares slope of log(time) against log(rows): 1.0 is linear."""
    xs = [math.log(r["transactions"]) for r in rows]
    ys = [math.log(r[key]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def bench_features(out: Path, raw: Path, peers: Path) -> dict:
    peer_input = out / "peer_input.parquet"
    duckdb.sql(f"""COPY (SELECT transaction_id AS TRANSACTION_ID, tx_datetime AS TX_DATETIME,
        customer_id AS CUSTOMER_ID, terminal_id AS TERMINAL_ID, tx_amount AS TX_AMOUNT, tx_fraud AS TX_FRAUD
        FROM read_parquet('{raw}/transactions/*/*.parquet', hive_partitioning = true) ORDER BY TRANSACTION_ID)
        TO '{peer_input}' (FORMAT parquet)""")
    result = {}
    for name in ("pandas", "duckdb"):
        wall, log = timed([sys.executable, str(peers / f"features_{name}.py"), str(peer_input),
                           str(out / f"peer_{name}.parquet")])
        result[f"peer_{name}_wall_s"] = round(wall, 1)
        print(f"peer {name}: wall {wall:.1f} s ({log.strip()})", flush=True)
    for label, extra in (("ours", []), ("ours_no_validation", ["--set", "validation.enabled=false"]),
                         ("ours_book_features", BOOK_FEATURES_ONLY)):
        wall, log = timed(fraud("build-features", "--input", str(raw / "transactions"),
                                "--output", str(out / f"features_{label}"), *extra))
        result[f"{label}_wall_s"], result[f"{label}_job_s"] = round(wall, 1), round(job_seconds(log), 1)
        steps = {m["step"]: float(m["seconds"]) for m in STEP_LINE.finditer(log)}
        result[f"{label}_steps"] = steps
        print(f"{label}: wall {wall:.1f} s, job {job_seconds(log):.1f} s {steps}", flush=True)
    for name in ("pandas", "duckdb"):
        result[f"parity_vs_{name}"] = compare(str(out / "features_ours"), str(out / f"peer_{name}.parquet"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--peers", default=str(ROOT.parent / "shared" / "peers"))
    parser.add_argument("--sizes", default="0.25,0.5,1")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [float(s) for s in args.sizes.split(",")]
    simulator = bench_simulator(out, sizes)
    features = bench_features(out, out / f"raw_{max(sizes)}", Path(args.peers))
    results = {"simulator": simulator, "simulator_slope_wall": round(slope(simulator, "wall_s"), 2),
               "simulator_slope_job": round(slope(simulator, "job_s"), 2), "features": features}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    full = results["simulator"][-1]
    f = results["features"]
    print("\n| measurement | seconds | ratio |")
    print("|---|---|---|")
    for r in results["simulator"]:
        print(f"| generate x{r['size']} ({r['transactions']:,} rows): wall / after session start "
              f"| {r['wall_s']} / {r['job_s']} | |")
    print(f"| generate: slope of log time vs log rows (wall / job) | {results['simulator_slope_wall']} / "
          f"{results['simulator_slope_job']} | |")
    ours = f["ours_wall_s"]
    for label in ("ours", "ours_no_validation", "ours_book_features"):
        print(f"| build-features {label}: wall / after session start | {f[f'{label}_wall_s']} / {f[f'{label}_job_s']}"
              f" | |")
    for name in ("pandas", "duckdb"):
        peer = f[f"peer_{name}_wall_s"]
        print(f"| peer {name} (wall) | {peer} | ours / {name} = {ours / peer:.2f} "
              f"(no validation: {f['ours_no_validation_wall_s'] / peer:.2f}; "
              f"the book's 15 inputs only, as the peer: {f['ours_book_features_wall_s'] / peer:.2f}) |")
    for name in ("pandas", "duckdb"):
        p = f[f"parity_vs_{name}"]
        print(f"| parity vs {name}: rows / mismatched rows / mismatched rows without a same-second tie "
              f"| {p['joined_rows']:,} / {p['mismatched_rows']} / {p['mismatched_rows_without_tie']} | |")
    print(f"\nfull-size statistics: {json.dumps({k: full[k] for k in full if k not in ('size', 'customers')})}")


if __name__ == "__main__":
    sys.exit(main())
