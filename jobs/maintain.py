"""Expire old snapshots of the output tables and remove the files no snapshot names: the pipeline's last step,
and a job of its own.

    spark-submit jobs/maintain.py [--config FILE ...] [--location DIR --name NAME ...]
    fraud maintain [--config s3-local]

For each Iceberg table of the config (features, scored transactions, alerts, monitoring and their quarantines,
and any --location/--name pair given, e.g. an ingest job's table): Iceberg's `expire_snapshots` drops the snapshots
older than `catalog.snapshot_retention_days` (keeping the last `catalog.retain_snapshots`), with the data files
only they named; `remove_orphan_files` then deletes files under the table's data/ and metadata/ folders that no
snapshot names and that are older than `catalog.orphan_grace_hours` (a killed run's files; younger ones may be a
write under way). Reports and manifests beside the tables are not touched. Without a catalog there is nothing to
do. How far back time travel reaches is the retention.
"""
from __future__ import annotations

import datetime as dt
import json
import sys

from pyspark.sql import SparkSession

from conf import Config, ConfigError
from jobs.common import base_parser, build_session, configure_logging, log, parse_config, step
from jobs.files import require_locations, table_path
from jobs.tables import Table, config_tables, exists, output_table, use_catalog


def _timestamp(moment: dt.datetime) -> str:
    return moment.strftime("TIMESTAMP '%Y-%m-%d %H:%M:%S'")


def maintain(spark: SparkSession, config: Config, table: Table, now: dt.datetime) -> dict:
    """Expire `table`'s snapshots older than the retention before `now` and remove its orphan files older than
    the grace period (before the clock's now: Iceberg refuses anything younger than a day); the counts Iceberg
    reports."""
    clock = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    catalog = config.catalog
    name = table.identifier  # whole: a namespace named like another catalog would be read as that catalog
    expired = spark.sql(
        f"CALL {catalog.name}.system.expire_snapshots(table => '{name}', "
        f"older_than => {_timestamp(now - dt.timedelta(days=catalog.snapshot_retention_days))}, "
        f"retain_last => {catalog.retain_snapshots})").first()  # one row of counts
    orphans = 0
    for folder in ("data", "metadata"):
        orphans += len(spark.sql(
            f"CALL {catalog.name}.system.remove_orphan_files(table => '{name}', "
            f"older_than => {_timestamp(clock - dt.timedelta(hours=catalog.orphan_grace_hours))}, "
            f"location => '{table_path(table.location, folder)}')").collect())  # one row a removed file
    return {"expired_snapshots_data_files": expired["deleted_data_files_count"],
            "expired_manifest_files": expired["deleted_manifest_files_count"], "orphan_files_removed": orphans}


def run(spark: SparkSession, config: Config, extra: dict[str, str] | None = None,
        now: dt.datetime | None = None) -> dict:
    if config.catalog.kind is None:
        return {}
    use_catalog(spark, config)
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    tables = {**config_tables(config),
              **{name: output_table(config, location, name) for location, name in (extra or {}).items()}}
    present = {name: table for name, table in tables.items() if exists(spark, table)}
    require_locations(spark, *(t.location for t in present.values()))
    done = {}
    for name, table in present.items():
        with step(f"maintain {name}") as figures:
            done[name] = maintain(spark, config, table, now)
            figures.update(done[name])
    return done


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud maintain --set catalog.kind=jdbc")
    parser.add_argument("--location", action="append", default=[], help="another table's location (with --name)")
    parser.add_argument("--name", action="append", default=[], help="its name in the catalog")
    args = parser.parse_args(argv)
    if len(args.location) != len(args.name):
        raise ConfigError("give --location and --name in pairs")
    config = parse_config(args)
    configure_logging()
    spark = build_session(config, uris=args.location)
    done = run(spark, config, dict(zip(args.location, args.name)))
    log.info("maintain %s", done)
    print(json.dumps(done, indent=2) if done else "no catalog (catalog.kind: null): nothing to maintain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
