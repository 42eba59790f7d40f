"""Scale benchmark: every job at 1x, 4x and 16x the handbook's size on this machine, peers in the same run.

    .venv/bin/python bench/scale.py [--out bench/out/scale] [--sizes 1,4,16] [--peers ../shared/peers]

For each size (customers and terminals scaled, the same 183 days): the simulator, the feature job over every
date, the pandas and DuckDB peers on the same rows, training (one setting, one validation and one test fold, then
the final fit: the scale of a production retrain), scoring one week, and the daily incremental path (features of
one new day with its look-back, then scoring that day) on the whole history and on a copy that keeps only the
look-back. Each command is timed whole (JVM start included); a sampler reads the peak resident memory of the
Spark JVM (driver and executor are one process in local mode) and of its Python workers every 0.2 s. The slope of
log(time) over log(rows) between the smallest and the largest size says how cost grows (1 = linear).
Results: OUT/scale.json and a markdown table on stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import STEP_LINE, job_seconds  # noqa: E402
from conf import FeaturesConf, ModelConf  # noqa: E402

SCORE_WEEK = ("2018-09-24", "2018-09-30")
NEW_DAY = "2018-09-30"
LOOKBACK_DAYS = 37 + 1  # the longest window (7-day delay + 30 days) and the new day
# one setting of the default model, 20 trees: the fits' cost per row is what scales, not the number of trees
TRAIN_SETTINGS = ("model.grid={maxIter: [20], maxDepth: [3], stepSize: [0.3]}", "protocol.folds=1")
PEERS = ("pandas", "duckdb")
PARTIAL = "partial.json"  # a size's finished steps, beside its tables


def book_features() -> list[str]:
    """Overrides that keep only the handbook's 15 features (every optional family at its default, off) and the
    model on them, so that the job computes what the peers compute at every size."""
    base = {"customer_windows_days", "terminal_windows_days", "delay_days", "night_last_hour", "rows_per_group"}
    out = []
    for field in dataclasses.fields(FeaturesConf):
        if field.name in base:
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        value = json.dumps(list(default) if isinstance(default, tuple) else default)
        out += ["--set", f"features.{field.name}={value}"]
    return [*out, "--set", f"model.features={json.dumps(list(ModelConf().features))}"]


class PeakMemory:
    """Peak RSS of a command's own process (the driver's Python, or a peer), of the Spark JVM under it and of
    its Python workers, sampled every 0.2 s."""

    def __init__(self, pid: int):
        self.pid, self.root, self.jvm, self.workers = pid, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[tuple[int, str, int]]:
        parents, info = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                rss_pages = int(Path(f"/proc/{entry}/statm").read_text().split()[1])
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            info[int(entry)] = (name, rss_pages * os.sysconf("SC_PAGE_SIZE"))
        inside, frontier = {self.pid}, [self.pid]
        while frontier:
            parent = frontier.pop()
            children = [p for p, pp in parents.items() if pp == parent and p not in inside]
            inside.update(children)
            frontier.extend(children)
        return [(p, *info[p]) for p in inside if p in info]

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = self._tree()
            self.root = max(self.root, sum(rss for pid, _, rss in tree if pid == self.pid))
            self.jvm = max(self.jvm, sum(rss for _, name, rss in tree if name == "java"))
            self.workers = max(self.workers, sum(rss for pid, name, rss in tree
                                                 if pid != self.pid and name.startswith("python")))
            time.sleep(0.2)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        gib = 2 ** 30
        return {"peak_command_gib": round(self.root / gib, 2), "peak_jvm_gib": round(self.jvm / gib, 2),
                "peak_python_workers_gib": round(self.workers / gib, 2)}


def run(command: list[str], may_fail: bool = False) -> dict:
    """Run a command, time it whole and sample its memory; fail loudly with its output, unless `may_fail` (a peer
    that runs out of memory at a size is a result, not the end of the benchmark)."""
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    memory = PeakMemory(process.pid)
    log, _ = process.communicate()
    # "after session start": the sum of the job's logged steps (the training job's steps nest, so not for it)
    nested = "train" in command
    figures = {"wall_s": round(time.perf_counter() - start, 1), "job_s": 0 if nested else round(job_seconds(log), 1),
               "load_1min": round(max(load_before, os.getloadavg()[0]), 1), **memory.stop(),
               "steps": {m["step"]: float(m["seconds"]) for m in STEP_LINE.finditer(log)}}
    if process.returncode:
        sys.stderr.write(log[-5000:])
        if not may_fail:
            raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}")
        killed = process.returncode < 0
        figures["failed"] = f"killed by signal {-process.returncode}" if killed else f"exit {process.returncode}"
    return figures


def fraud(*args: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "fraud"), *args]


def tracking(folder: Path, name: str) -> list[str]:
    return ["--set", f"tracking.tracking_uri=sqlite:///{folder}/mlflow.db", "--set",
            f"tracking.artifact_root={folder}/artifacts", "--set", f"model.registered_name={name}"]


def recent_copy(raw: Path, target: Path) -> Path:
    """A raw table holding only the new day and its look-back (links to the same partition folders)."""
    last = dt.date.fromisoformat(NEW_DAY)
    target.mkdir(parents=True, exist_ok=True)
    for days_back in range(LOOKBACK_DAYS):
        name = f"tx_date={last - dt.timedelta(days=days_back)}"
        if (raw / name).exists() and not (target / name).exists():
            (target / name).symlink_to(raw / name)
    return target


class Steps:
    """The figures of one size's steps, saved after each step (`PARTIAL`), so that `--resume` carries on after the
    last finished step of an interrupted run (its tables are still in the size's folder)."""

    def __init__(self, folder: Path, resume: bool):
        self.file = folder / PARTIAL
        self.done = json.loads(self.file.read_text()) if resume and self.file.exists() else {}

    def __call__(self, name: str, make) -> dict:
        if name not in self.done:
            self.done[name] = make()
            self.file.write_text(json.dumps(self.done, indent=2))
        print(f"{self.file.parent.name}: {name} {self.done[name]}", flush=True)
        return self.done[name]


def bench_size(out: Path, size: int, peers: Path, book: list[str], unit: float, resume: bool = False) -> dict:
    folder = out / f"x{size}"
    if not (resume and (folder / PARTIAL).exists()):
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    step = Steps(folder, resume)
    raw, features, publish = folder / "raw", folder / "features", folder / "publish"
    customers, terminals = round(5_000 * size * unit), round(10_000 * size * unit)
    result = {"size": size, "customers": customers, "terminals": terminals}

    result["generate"] = step("generate", lambda: run(fraud(
        "generate", "--output", str(raw), "--customers", str(customers), "--terminals", str(terminals))))
    result["rows"] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{raw}/transactions/*/*.parquet')").fetchone()[0]
    result["features"] = step("features", lambda: run(fraud(
        "build-features", "--input", str(raw / "transactions"), "--output", str(features), *book)))

    peer_input = folder / "peer_input.parquet"
    if not all(f"peer_{name}" in step.done for name in PEERS):
        duckdb.sql(f"""COPY (SELECT transaction_id AS TRANSACTION_ID, tx_datetime AS TX_DATETIME,
            customer_id AS CUSTOMER_ID, terminal_id AS TERMINAL_ID, tx_amount AS TX_AMOUNT, tx_fraud AS TX_FRAUD
            FROM read_parquet('{raw}/transactions/*/*.parquet')) TO '{peer_input}' (FORMAT parquet)""")
    for name in PEERS:
        result[f"peer_{name}"] = step(f"peer_{name}", lambda: run(
            [sys.executable, str(peers / f"features_{name}.py"), str(peer_input), str(folder / f"peer_{name}.parquet")],
            may_fail=True))
        (folder / f"peer_{name}.parquet").unlink(missing_ok=True)
    peer_input.unlink(missing_ok=True)

    model = tracking(folder / "mlflow", f"fraud-scale-x{size}")
    settings = [arg for setting in TRAIN_SETTINGS for arg in ("--set", setting)]
    result["train"] = step("train", lambda: run(fraud(
        "train", "--features", str(features), "--output", str(folder / "training"), *settings, *model, *book)))
    result["score_week"] = step("score_week", lambda: run(fraud(
        "score", "--features", str(features), "--output", str(publish), "--start-date", SCORE_WEEK[0],
        "--end-date", SCORE_WEEK[1], *model, *book)))

    for label, table in (("daily_full_history", raw / "transactions"),
                         ("daily_lookback_only", recent_copy(raw / "transactions", folder / "recent" / "transactions"))):
        def daily(table=table, label=label) -> dict:
            # the new day's partition of the features table is replaced, then scored
            step_features = run(fraud("build-features", "--input", str(table), "--output", str(features),
                                      "--start-date", NEW_DAY, "--end-date", NEW_DAY, *book))
            step_score = run(fraud("score", "--features", str(features), "--output", str(folder / f"{label}_pub"),
                                   "--start-date", NEW_DAY, *model, *book))
            return {"features": step_features, "score": step_score,
                    "wall_s": round(step_features["wall_s"] + step_score["wall_s"], 1)}

        result[label] = step(label, daily)
    return result


STEPS = ("generate", "features", "peer_pandas", "peer_duckdb", "train", "score_week")


def slope(results: list[dict], step: str, key: str = "wall_s") -> float:
    first, last = results[0], results[-1]
    if last["rows"] == first["rows"] or "failed" in last[step]:
        return float("nan")
    return math.log(last[step][key] / first[step][key]) / math.log(last["rows"] / first["rows"])


def print_table(results: list[dict]) -> None:
    print("\n| step | size | rows | wall s | after session start s | rows/s (wall) | peak command GiB | "
          "peak JVM GiB | peak Python workers GiB | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for step in STEPS:
        for r in results:
            f = r[step]
            print(f"| {step} | x{r['size']} | {r['rows']:,} | {f['wall_s']} | {f['job_s'] or ''} | "
                  f"{r['rows'] / f['wall_s']:,.0f} | {f['peak_command_gib']} | {f['peak_jvm_gib']} | {f['peak_python_workers_gib']} | "
                  f"{f['load_1min']} |")
    print("\n| step | slope of log wall vs log rows (x{0} to x{1}) | slope, after session start |".format(
        results[0]["size"], results[-1]["size"]))
    print("|---|---|---|")
    for step in STEPS:
        after = slope(results, step, "job_s") if results[0][step]["job_s"] else float("nan")
        print(f"| {step} | {slope(results, step):.2f} | {after:.2f} |")
    print("\n| size | ours / pandas | ours / duckdb | daily path, whole history s | daily path, look-back only s |")
    print("|---|---|---|---|---|")
    for r in results:
        ours = r["features"]["wall_s"]
        ratios = [f"{ours / r[f'peer_{p}']['wall_s']:.2f}" if "failed" not in r[f"peer_{p}"] else
                  f"{p} {r[f'peer_{p}']['failed']} after {r[f'peer_{p}']['wall_s']} s" for p in PEERS]
        print(f"| x{r['size']} | {' | '.join(ratios)} | {r['daily_full_history']['wall_s']} | "
              f"{r['daily_lookback_only']['wall_s']} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "scale"))
    parser.add_argument("--peers", default=str(ROOT.parent / "shared" / "peers"))
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--keep", action="store_true", help="keep each size's tables (default: removed after it)")
    parser.add_argument("--resume", action="store_true", help="keep the sizes already in OUT/scale.json and carry "
                        "on after the last finished step of an interrupted size")
    parser.add_argument("--unit", type=float, default=1.0, help="customers and terminals of x1 as a share of the "
                        "handbook's (a quick check of the script: 0.05)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    book = book_features()
    saved = out / "scale.json"
    done = {r["size"]: r for r in json.loads(saved.read_text())} if args.resume and saved.exists() else {}
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        if size in done:
            results.append(done[size])
            continue
        results.append(bench_size(out, size, Path(args.peers), book, args.unit, args.resume))
        saved.write_text(json.dumps(results, indent=2))
        if not args.keep:
            shutil.rmtree(out / f"x{size}", ignore_errors=True)
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
