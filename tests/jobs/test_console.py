"""The `fraud` command's console: stage lines and summaries on the terminal, library logs in a log file."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--set", "simulator.customers=20", "--set", "simulator.terminals=40", "--set", "simulator.days=2",
        "--set", "spark.master=local[1]"]
SPARK_START = 'Setting default log level to "WARN"'  # the JVM's first log4j lines
STAGE = "simulate, write and summarize: tables=3"


def fraud(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FRAUD_LOG_DIR": str(tmp_path / "logs")}
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def log_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "logs").glob("fraud-*.log"))


@pytest.fixture(scope="module")
def quiet_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("quiet")
    return tmp_path, fraud(["generate", "--output", str(tmp_path / "raw"), *TINY], tmp_path)


def test_a_quiet_run_prints_its_log_file_then_stage_lines_with_elapsed_time(quiet_run):
    tmp_path, done = quiet_run
    assert done.returncode == 0, done.stderr
    first, *rest = done.stderr.splitlines()
    assert first.startswith(f"log: {tmp_path / 'logs'}/fraud-generate-")
    assert any(line.split(" s  ", 1)[-1].startswith(STAGE) for line in rest)
    assert "transactions" in done.stdout  # the summary table stays on stdout


def test_a_quiet_run_keeps_spark_and_library_lines_off_the_terminal_and_in_its_log_file(quiet_run):
    tmp_path, done = quiet_run
    assert SPARK_START not in done.stderr and "WARN" not in done.stderr
    [log_file] = log_files(tmp_path)
    logged = log_file.read_text()
    assert SPARK_START in logged and f"INFO fraud: {STAGE}" in logged


def test_verbose_prints_the_library_lines_and_writes_no_log_file(tmp_path):
    done = fraud(["-v", "generate", "--output", str(tmp_path / "raw"), *TINY], tmp_path)
    assert done.returncode == 0, done.stderr
    assert SPARK_START in done.stderr and f"INFO fraud: {STAGE}" in done.stderr
    assert log_files(tmp_path) == []


@pytest.mark.parametrize("args, printed", [
    (["generate", "--set", "nope.key=1"], "fraud generate: ConfigError: "),
    (["generate", "--bogus"], "error: unrecognized arguments: --bogus"),
])
def test_errors_reach_the_terminal_under_a_quiet_console(tmp_path, args, printed):
    done = fraud(args, tmp_path)
    assert done.returncode != 0
    assert printed in done.stderr
