"""Register the Athena tables (raw, features, scored, alerts) in the Glue Data Catalog: the pipeline's last step.

    spark-submit jobs/publish.py --config FILE [--database NAME]
    fraud publish --config emr [--database NAME]

Lists each table's date partitions first, through Spark's Hadoop file system (on EMR: EMRFS), and logs how many
there are; then creates or updates each table with partition projection on tx_date (`emr/glue.py`), so Athena
sees new dates without a repair, from `emr.projection_start` or else the table's earliest date (history of any
year is queryable; a re-publish after a backfill of older dates moves the start back). The Glue client comes from the config's `aws` section.
"""
from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

from conf import Config
from emr import clients
from emr.athena import TABLES, projection_start
from emr.glue import register_tables
from jobs.common import base_parser, build_session, configure_logging, parse_config, step
from jobs.tables import list_partitions, require_locations


def run(spark: SparkSession, config: Config, database: str, glue) -> dict:
    require_locations(spark, *(table.location(config.paths) for table in TABLES.values()))
    starts = {}
    for table in TABLES.values():
        with step(f"list {table.name}") as figures:
            dates = [d for d, p in list_partitions(spark, table.location(config.paths)).items() if p.files]
            starts[table.name] = projection_start(config.emr.projection_start, min(dates, default=None))
            figures.update(partitions=len(dates), projection_start=str(starts[table.name]))
    with step("register tables") as figures:
        done = register_tables(glue, database, config.paths, starts=starts)
        figures.update(done)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
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
