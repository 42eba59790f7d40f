"""Run a job as its own spark-submit process, stop it at a named point of its write or while it writes, SIGKILL it,
and read what a reader of its output sees: an Iceberg table through the test session's catalog, as Athena reads
it (the current snapshot), or Parquet folders through DuckDB."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import duckdb

from conf import jars
from jobs.tables import PAUSE_ENV

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# small and quick: one core, a small heap, and only the JIT's first tier (a job of seconds never needs the second);
# no generated code or adaptive re-planning either, whose compile time dwarfs a few hundred rows (what is under test
# is the commit protocol, not the engine)
JOB_SETTINGS = ("spark.master=local[1]", "spark.shuffle_partitions=2", "spark.driver_memory=512m",
                "validation.enabled=false",
                'spark.extra={spark.sql.codegen.wholeStage: "false", spark.sql.adaptive.enabled: "false"}')
JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
WAIT_SECONDS = 300


def launch(job: str, args: list[str], log: Path, pause_at: str | None = None,
           settings: tuple[str, ...] = (), bundles: tuple[str, ...] = ()) -> subprocess.Popen:
    """`spark-submit [--jars <bundles' jars>] jobs/<job>.py ARGS` in a process group of its own (the JVM, its
    Python driver and workers), stopping at `pause_at` (see `jobs.tables.pause_point`)."""
    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    if pause_at:
        env[PAUSE_ENV] = pause_at
    sets = [a for s in (*JOB_SETTINGS, *settings) for a in ("--set", s)]
    jar_args = ["--jars", ",".join(str(p) for p in jars.fetch(bundles))] if bundles else []
    command = [str(VENV_BIN / "spark-submit"), "--driver-java-options", JAVA_OPTIONS, *jar_args, f"jobs/{job}.py",
               *args, *sets]
    with open(log, "wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def paused(log: Path, point: str):
    return lambda: f"{PAUSE_ENV}: paused at {point}" in log.read_text(errors="replace")


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the whole process group, as a lost driver node would end it, and reap it."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def finish(proc: subprocess.Popen, log: Path) -> None:
    if proc.wait(WAIT_SECONDS) != 0:
        raise AssertionError(f"the job failed ({proc.returncode}):\n{log.read_text()[-3000:]}")


def step_times(log: Path) -> dict[str, str]:
    """The time of each step line the job logged (`... INFO fraud: <step>: ...`)."""
    return {m[2]: m[1] for m in re.finditer(r"^(\S+ \S+) INFO fraud: ([a-z ]+):", log.read_text(), re.M)}


def digests(table: Path, exclude: tuple[str, ...] = ()) -> dict:
    """{date: (rows, sum of row hashes)} of the partitions a reader sees; `exclude`: run-dependent columns."""
    if not any(table.glob("tx_date=*/*.parquet")):
        return {}
    source = f"read_parquet('{table}/tx_date=*/*.parquet', hive_partitioning = true)"
    dropped = [c for c in exclude if c in duckdb.sql(f"SELECT * FROM {source} LIMIT 0").columns]
    kept = f"* EXCLUDE ({', '.join(dropped)})" if dropped else "*"
    rows = duckdb.sql(f"SELECT tx_date, count(*), sum(hash(t)) FROM (SELECT {kept} FROM {source}) t "
                      "GROUP BY ALL").fetchall()
    return {str(date): (count, digest) for date, count, digest in rows}


def table_digests(spark, table, exclude: tuple[str, ...] = ()) -> dict:
    """`digests` of an Iceberg table's current snapshot, read by Spark."""
    from pyspark.sql import functions as F

    from jobs.tables import exists, read_all

    if not exists(spark, table):
        return {}
    rows = read_all(spark, table)
    rows = rows.select(*[c for c in rows.columns if c not in exclude])
    hashed = rows.groupBy("tx_date").agg(F.count(F.lit(1)).alias("n"), F.sum(F.xxhash64(*rows.columns)).alias("h"))
    return {str(r.tx_date): (r.n, r.h) for r in hashed.collect()}  # one row a date
