"""The terminal and the log file of a `fraud` command.

A quiet console (`fraud COMMAND`, the default) points file descriptor 2 at a log file before anything else runs:
Python's stderr, library log handlers (MLflow's database migrations, Great Expectations), progress bars, and the
JVM that Spark starts later (log4j's console, the Python workers) all write there. The terminal keeps what a user
reads: the `fraud` logger's stage lines, the summaries on stdout, argument errors and failures in full.
`fraud -v COMMAND` leaves every stream where it is.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import IO

_terminal: IO[str] | None = None  # the terminal's stderr while fd 2 is the log file


def terminal() -> IO[str]:
    """Where a user-facing line goes: the terminal under a quiet console, else the current stderr."""
    return _terminal or sys.stderr


def is_quiet() -> bool:
    return _terminal is not None


def quiet(command: str, folder: str | os.PathLike) -> Path:
    """Send file descriptor 2 to a new log file in `folder` (created) and keep the terminal for `terminal()`."""
    global _terminal
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = Path(folder) / f"fraud-{command}-{stamp}-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    _terminal = os.fdopen(saved, "w", buffering=1)
    # MLflow's artifact downloads draw progress bars line by line into the log otherwise
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return path


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its usage errors on the terminal rather than in a quiet console's log file."""

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        super()._print_message(message, terminal() if file in (None, sys.stderr) else file)
