"""The README's pictures, taken in a real headless browser (Debian's chromium) from a local run's own outputs.

    fraud pipeline                                   # once: the outputs the pictures show
    .venv/bin/python docs/pictures/make.py [--config local] [--set section.key=value ...]

Takes the newest scoring report and monitoring report under `paths.publish`, and the newest training run's page in
the MLflow UI (`fraud ui` on a free port), checks that each page rendered (its DOM, after scripts ran, holds what
the page is for) and writes docs/pictures/{scoring-report,monitoring-report,mlflow-run}.png.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import mlflow  # noqa: E402

from conf import load_config  # noqa: E402

OUT = Path(__file__).resolve().parent
WINDOW = "1280,900"
RENDER_MS = "20000"  # the MLflow UI is a single-page app: let its scripts and API calls finish


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit("needs Debian's chromium: apt-get install chromium")
    return found


def chromium(url: str, *options: str) -> str:
    done = subprocess.run([browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={WINDOW}", f"--virtual-time-budget={RENDER_MS}", *options, url],
                          capture_output=True, text=True, timeout=180, check=True)
    return done.stdout


def picture(url: str, name: str, must_show: str, tries: int = 3) -> Path:
    """Screenshot `url` once its DOM holds `must_show` (a single-page app on a busy machine may need a retry)."""
    for _ in range(tries):
        if must_show in chromium(url, "--dump-dom"):
            break
    else:
        sys.exit(f"{url} rendered without {must_show!r} {tries} times: not taking {name}")
    path = OUT / name
    chromium(url, f"--screenshot={path}")
    print(f"{path.relative_to(ROOT)}  ({url})")
    return path


def newest(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"no {pattern} under {folder}: run `fraud pipeline` first")
    return found[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    publish = Path(config.paths.publish)
    picture(newest(publish, "_reports/monitoring_*.html").resolve().as_uri(), "monitoring-report.png", "Fraud model monitoring")
    picture(newest(publish, "_reports/2*.html").resolve().as_uri(), "scoring-report.png", "Investigators")

    mlflow.set_tracking_uri(config.tracking.tracking_uri)
    experiment = mlflow.get_experiment_by_name(config.tracking.experiment)
    [run] = mlflow.search_runs([experiment.experiment_id], filter_string="tags.promotion != ''",
                               order_by=["start_time DESC"], max_results=1, output_format="list")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "jobs.cli", "ui", "--port", str(port),
                               *(f"--set={o}" for o in args.overrides),
                               *(["--config", args.config] if args.config else [])],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        while "MLflow UI: " not in (line := server.stdout.readline()):
            if not line:
                sys.exit("fraud ui stopped before it served")
        picture(f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}",
                "mlflow-run.png", run.info.run_name)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
