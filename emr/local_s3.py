"""A local S3-compatible endpoint for development: moto in server mode, with the buckets a config names.

    fraud s3-local [--config s3-local] [--set ...]     # serves aws.endpoint_url until Ctrl-C

Needs the dev extras (`pip install -e '.[dev]'`, which bring moto) and AWS credentials in the environment (any
values: moto checks none, but boto3 and S3A sign every request). Its buckets live in memory: they are gone when
the server stops. README "Run against S3".
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
from urllib.parse import urlparse

from conf import Config, load_config
from conf.storage import bucket_root, config_uris
from emr import clients


def buckets(config: Config) -> list[str]:
    """The buckets of the config's S3 locations, in order."""
    return list(dict.fromkeys(bucket_root(u).split("://", 1)[1].rstrip("/") for u in config_uris(config)
                              if bucket_root(u)))


def serve(config: Config):
    """Start moto on the config's endpoint and create the buckets; returns the running server."""
    from moto.server import ThreadedMotoServer

    endpoint = urlparse(config.aws.endpoint_url or "")
    if endpoint.hostname not in ("127.0.0.1", "localhost") or not endpoint.port:
        raise SystemExit(f"aws.endpoint_url must be http://127.0.0.1:PORT for a local server, got "
                         f"{config.aws.endpoint_url!r}")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request on the console
    server = ThreadedMotoServer(ip_address=endpoint.hostname, port=endpoint.port, verbose=False)
    server.start()
    s3 = clients.client("s3", config.aws)
    for bucket in buckets(config):
        s3.create_bucket(Bucket=bucket)
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example:\n  fraud s3-local &   # then: fraud pipeline --config s3-local")
    parser.add_argument("--config", default="s3-local", help="config file or environment name (default s3-local)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.overrides)
    server = serve(config)
    print(f"S3 endpoint {config.aws.endpoint_url} serving buckets {', '.join(buckets(config))}; Ctrl-C stops it",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
