"""What changed in one day of an output table between two of its snapshots: by default, what the last run that
wrote the day changed.

    spark-submit jobs/audit.py --table scored_transactions --date D [--before SNAPSHOT] [--after SNAPSHOT]
    fraud audit --table scored_transactions --date 2018-09-30

Rows are matched by the table's key (a transaction, a queued card, a monitored day): rows added, rows removed,
rows whose values changed (run-dependent columns such as scored_at aside), and for scored transactions how many
moved from one outcome to another. Both snapshots stay queryable for the retention (`fraud maintain`): in Athena,
`SELECT ... FROM scored_transactions FOR VERSION AS OF <snapshot id>`; in Spark, `VERSION AS OF`.
"""
from __future__ import annotations

import datetime as dt
import json
import sys

from pyspark.sql import DataFrame, SparkSession, functions as F

from conf import Config, ConfigError
from expectations.contracts import PARTITION_COLUMN
from jobs.common import base_parser, build_session, configure_logging, iso_date, parse_config
from jobs.tables import ALERTS, FEATURES, MONITORING, RUN_PROPERTY, SCORED, Table, config_tables, exists, use_catalog

KEYS = {FEATURES: ("transaction_id",), SCORED: ("transaction_id",), ALERTS: ("customer_id",),
        MONITORING: (PARTITION_COLUMN,)}
RUN_DEPENDENT = ("scored_at", "monitored_at", "run_id")


def last_change(spark: SparkSession, table: Table, date: dt.date) -> tuple[int | None, int]:
    """(parent, snapshot) of the last snapshot that added or removed files of `date`."""
    touched = spark.sql(
        f"SELECT s.snapshot_id, s.parent_id FROM {table.identifier}.snapshots s JOIN (SELECT DISTINCT snapshot_id "
        f"FROM {table.identifier}.all_entries WHERE status != 0 AND data_file.partition.{PARTITION_COLUMN} = "
        f"DATE '{date}') e ON s.snapshot_id = e.snapshot_id ORDER BY s.committed_at DESC LIMIT 1").collect()
    if not touched:
        raise ConfigError(f"{table}: no snapshot wrote {date}")
    return touched[0]["parent_id"], touched[0]["snapshot_id"]


def _day(spark: SparkSession, table: Table, snapshot: int | None, date: dt.date) -> DataFrame | None:
    if snapshot is None:
        return None
    return spark.sql(f"SELECT * FROM {table.identifier} VERSION AS OF {int(snapshot)}").where(
        F.col(PARTITION_COLUMN) == F.lit(date))


def _run_of(spark: SparkSession, table: Table, snapshot: int | None) -> str | None:
    if snapshot is None:
        return None
    row = spark.sql(f"SELECT summary['{RUN_PROPERTY}'] AS run FROM {table.identifier}.snapshots "
                    f"WHERE snapshot_id = {int(snapshot)}").first()
    return row["run"] if row else None


def changes(before: DataFrame | None, after: DataFrame, key: tuple[str, ...]) -> dict:
    """Counts of rows added, removed and changed between two versions of a day (aggregates: nothing collected
    but the counts and the outcome transitions)."""
    if before is None:
        return {"rows_before": 0, "rows_after": after.count(), "added": after.count(), "removed": 0, "changed": 0}
    compared = [c for c in after.columns if c in before.columns and c not in (*key, *RUN_DEPENDENT)]
    old = before.select(*key, *[F.col(c).alias(f"old_{c}") for c in compared], F.lit(True).alias("_in_old"))
    joined = old.join(after.withColumn("_in_new", F.lit(True)), list(key), "full_outer")
    marker_old = F.col("_in_old")
    differs = F.lit(False)
    for c in compared:
        differs = differs | ~F.col(f"old_{c}").eqNullSafe(F.col(c))
    figures = joined.agg(
        F.count(marker_old).alias("rows_before"), F.count("_in_new").alias("rows_after"),
        F.sum(F.when(marker_old.isNull(), 1).otherwise(0)).alias("added"),
        F.sum(F.when(F.col("_in_new").isNull(), 1).otherwise(0)).alias("removed"),
        F.sum(F.when(marker_old.isNotNull() & F.col("_in_new").isNotNull() & differs, 1).otherwise(0))
        .alias("changed")).first().asDict()  # one row
    if "outcome" in compared:
        moved = joined.where(marker_old.isNotNull() & F.col("_in_new").isNotNull()
                             & ~F.col("old_outcome").eqNullSafe(F.col("outcome")))
        figures["outcome_changes"] = {f"{r['old_outcome']} -> {r['outcome']}": r["count"] for r in
                                      moved.groupBy("old_outcome", "outcome").count().collect()}  # a few rows
    return figures


def run(spark: SparkSession, config: Config, name: str, date: dt.date, before: int | None = None,
        after: int | None = None) -> dict:
    if name not in KEYS:
        raise ConfigError(f"--table must be one of {', '.join(KEYS)}, got {name!r}")
    table = config_tables(config)[name]
    if not table.iceberg:
        raise ConfigError(f"{table}: Parquet folders keep no history (catalog.kind: null); audit needs a catalog")
    use_catalog(spark, config)
    if not exists(spark, table):
        raise ConfigError(f"{table}: no such table in the catalog")
    if after is None:
        parent, after = last_change(spark, table, date)
        before = parent if before is None else before
    result = {"table": table.identifier, "date": str(date), "before": before, "after": after,
              "before_run": _run_of(spark, table, before), "after_run": _run_of(spark, table, after)}
    result.update(changes(_day(spark, table, before, date), _day(spark, table, after, date), KEYS[name]))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud audit --table scored_transactions --date 2018-09-30 --set catalog.kind=jdbc")
    parser.add_argument("--table", required=True, help=f"one of {', '.join(KEYS)}")
    parser.add_argument("--date", type=iso_date, required=True)
    parser.add_argument("--before", type=int, help="a snapshot id (default: the parent of --after)")
    parser.add_argument("--after", type=int, help="a snapshot id (default: the last one that wrote the date)")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    spark = build_session(config)
    print(json.dumps(run(spark, config, args.table, args.date, args.before, args.after), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
