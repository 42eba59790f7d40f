"""Register the Athena tables (raw, features, scored, alerts, monitoring) in the Glue Data Catalog: the pipeline's
last step.

    spark-submit jobs/publish.py --config FILE [--database NAME]
    fraud publish --config emr [--database NAME]

Lists each table's dates first (the raw folders through Spark's Hadoop file system, on EMR EMRFS; an Iceberg
table's current snapshot through its catalog) and logs how many there are; then registers them (`emr/glue.py`):
- `raw_transactions`, Parquet folders: an external table with partition projection on tx_date, so Athena sees new
  dates without a repair, from `emr.projection_start` or else the table's earliest date (a re-publish after a
  backfill of older dates moves the start back).
- the Iceberg output tables: with `catalog.kind: glue` (EMR) Spark's GlueCatalog created them in the Glue
  database `catalog.namespace`, which must then be the one published to; with `jdbc` (tables on S3 in an
  embedded catalog) each is registered at its current metadata file, read from the catalog, so Athena reads the
  tables as of this publish. Without a catalog the output tables are local Parquet folders, which Athena cannot
  read: only the raw table is registered.
The Glue client comes from the config's `aws` section.
"""
from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

from conf import Config, ConfigError
from emr import clients
from emr.athena import TABLES, projection_start
from emr.glue import register_tables
from jobs.common import base_parser, build_session, configure_logging, parse_config, step
from jobs.files import list_partitions, require_locations
from jobs.tables import Table, input_table, partitions

RAW = "raw_transactions"
NO_TABLE = "not registered (no Iceberg table in the catalog yet)"
NO_CATALOG = "not registered (Parquet folders without a catalog: local only)"


def current_metadata_file(spark: SparkSession, table: Table) -> str:
    """The metadata file of the Iceberg table's current state (the last entry of its metadata log)."""
    return spark.sql(f"SELECT file FROM {table.identifier}.metadata_log_entries "
                     "ORDER BY timestamp DESC LIMIT 1").first()["file"]


def _iceberg_tables(spark: SparkSession, config: Config) -> tuple[dict[str, str], dict[str, str]]:
    """({name: current metadata file} of the Iceberg tables to register, {name: why not} of those left out)."""
    metadata, left_out = {}, {}
    for table in (t for t in TABLES.values() if t.iceberg):
        with step(f"list {table.name}") as figures:
            found = input_table(spark, config, table.location(config.paths), table.name)
            figures.update(partitions=len(partitions(spark, found)), iceberg=found.iceberg)
            if config.catalog.kind is None:
                left_out[table.name] = NO_CATALOG
            elif config.catalog.kind == "jdbc" and found.iceberg:
                metadata[table.name] = current_metadata_file(spark, found)
            elif config.catalog.kind == "jdbc":
                left_out[table.name] = NO_TABLE
    return metadata, left_out


def run(spark: SparkSession, config: Config, database: str, glue) -> dict:
    if config.catalog.kind == "glue" and database != config.catalog.namespace:
        raise ConfigError(f"the Iceberg tables are in Glue database {config.catalog.namespace!r} (catalog.namespace): "
                          f"publish the raw table there too, not to {database!r}, so that queries join them")
    require_locations(spark, *(table.location(config.paths) for table in TABLES.values()))
    with step(f"list {RAW}") as figures:
        dates = [d for d, p in list_partitions(spark, TABLES[RAW].location(config.paths)).items() if p.files]
        start = projection_start(config.emr.projection_start, min(dates, default=None))
        figures.update(partitions=len(dates), projection_start=str(start))
    metadata, left_out = _iceberg_tables(spark, config)
    with step("register tables") as figures:
        names = tuple(name for name in TABLES if name not in left_out)
        done = {**register_tables(glue, database, config.paths, names, {RAW: start}, metadata), **left_out}
        figures.update(done)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud publish --config emr")
    parser.add_argument("--database", help="Glue database (default: emr.glue_database)")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    spark = build_session(config)
    done = run(spark, config, args.database or config.emr.glue_database, clients.client("glue", config.aws))
    print("PUBLISHED " + json.dumps(done, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
