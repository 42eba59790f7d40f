"""Start the MLflow UI on the configured tracking store and print its address (Ctrl-C stops it).

Runs `mlflow server` on the config's store (a local SQLite store, or the server of MLFLOW_TRACKING_URI when set is
already a UI: then only its address is printed), listening on 127.0.0.1 unless --host says otherwise.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conf import ConfigError
from conf.redact import redact_text
from jobs.common import base_parser, parse_config

STARTUP_SECONDS = 120


def server_command(tracking_uri: str, artifact_root: str | None, host: str, port: int) -> list[str]:
    """`mlflow server` on the store, serving its artifacts (runs' plots, models) from the artifact root."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri, "--host", host,
               "--port", str(port), "--workers", "1"]
    if artifact_root:
        root = artifact_root if "://" in artifact_root else Path(artifact_root).resolve().as_uri()
        command += ["--default-artifact-root", root]
    return command


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ConfigError(f"the MLflow server stopped at start (exit {server.returncode}); run with -v to see why")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise ConfigError(f"the MLflow server did not answer at {url} within {seconds:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud ui --port 8080   (then open http://127.0.0.1:8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="default 8080 (fraud s3-local takes 5000)")
    args = parser.parse_args(argv)
    config = parse_config(args)
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or config.tracking.tracking_uri
    if tracking_uri.startswith(("http://", "https://", "arn:")):
        print(f"the tracking store is a server already: {redact_text(tracking_uri)}")
        return 0
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        raise ConfigError(f"no MLflow store at {tracking_uri}: run `fraud pipeline` or `fraud train` first, or "
                          f"pass --config / --set tracking.tracking_uri=...")
    url = f"http://{args.host}:{args.port}"
    server = subprocess.Popen(server_command(tracking_uri, config.tracking.artifact_root, args.host, args.port))
    try:
        wait_until_up(url, server)
        print(f"MLflow UI: {url}   (experiment {config.tracking.experiment}; Ctrl-C stops it)", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    sys.exit(main())
