"""The main job: the whole pipeline end to end on one Spark session, on the config's paths.

    fraud pipeline [--config local|emr|FILE] [--set section.key=value ...]
    spark-submit jobs/pipeline.py [--config ...]

Simulate -> validate -> build features -> train, select and register the model (MLflow; the grid is
`model.pipeline_grid`, a short one, unless set to null) -> score the last `scoring.pipeline_days` dates with the
champion -> monitor those dates against the model's training reference -> with the tables on S3, register them
in the Glue Data Catalog (`publish`, at `aws.endpoint_url` when set; with an Iceberg catalog, after expiring old
snapshots and removing orphan files: `maintain`) -> print a summary with where everything went. With the tables on
local folders nothing is registered: `fraud query` reads the same tables through DuckDB.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import sys
import time

from pyspark.sql import SparkSession

from conf import Config
from conf.storage import is_s3
from emr import clients
from jobs import build_features, generate, maintain, monitor, score, train
from jobs.common import base_parser, build_session, configure_logging, log, parse_config
from jobs.files import table_path


def with_pipeline_grid(config: Config) -> Config:
    """The config whose training searches `model.pipeline_grid` (when set) instead of `model.grid`."""
    if config.model.pipeline_grid is None:
        return config
    return dataclasses.replace(config, model=dataclasses.replace(config.model, grid=config.model.pipeline_grid))


def run(spark: SparkSession, config: Config) -> dict[str, dict]:
    """Every stage once, on the config's paths: the summaries of the stages by name."""
    started = time.perf_counter()
    # the demo re-runs over its own simulated rows; a raw table of other rows is refused (jobs/generate.py)
    simulated = generate.run(spark, config, config.paths.raw, overwrite=generate.is_simulated(spark, config.paths.raw))
    features = build_features.run(spark, config, table_path(config.paths.raw, "transactions"), config.paths.features)
    trained = train.run(spark, with_pipeline_grid(config), config.paths.features, config.paths.training)
    last = dt.date.fromisoformat(features["last_date"])
    scored = score.run(spark, config, config.paths.features, config.paths.publish,
                       last - dt.timedelta(days=config.scoring.pipeline_days - 1), last)
    monitored = monitor.run(spark, config, config.paths.publish, dt.date.fromisoformat(scored["first_date"]), last)
    results = {"simulated": simulated, "features": features, "trained": trained, "scored": scored,
               "monitored": monitored}
    if config.catalog.kind:
        results["maintained"] = maintain.run(spark, config)
    if is_s3(config.paths.publish):  # after maintenance: Athena reads the metadata file current then
        from jobs import publish  # boto3's Glue client only where there is a catalog to register in

        glue = clients.client("glue", config.aws)
        results["published"] = publish.run(spark, config, config.emr.glue_database, glue)
    log.info("pipeline done in %.1f s", time.perf_counter() - started)
    return results


def report(config: Config, results: dict[str, dict]) -> str:
    """What the pipeline prints: each stage's summary under a heading that says where its output went."""
    def listing(summary: dict) -> str:
        return "\n".join(f"{k:<22}{v}" for k, v in summary.items())

    return "\n".join([
        f"Simulated transactions ({config.paths.raw})", generate.format_summary(results["simulated"]),
        f"\nFeatures ({config.paths.features})", listing(results["features"]),
        f"\nTraining ({config.paths.training})", train.report(results["trained"], config.protocol.top_k),
        f"\nScoring ({config.paths.publish}/scored, /alerts)", listing(results["scored"]),
        f"\nMonitoring ({config.paths.publish}/monitoring)", listing(results["monitored"]),
        *([f"\nGlue tables (database {config.emr.glue_database})", listing(results["published"])]
          if "published" in results else []),
        *([f"\nTable maintenance (catalog {config.catalog.name}, snapshots kept "
           f"{config.catalog.snapshot_retention_days} days)", listing(results["maintained"])]
          if results.get("maintained") else []),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0], "fraud pipeline --set simulator.customers=500")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    started = time.perf_counter()
    results = run(build_session(config), config)  # the session covers the config's own locations
    print(report(config, results))
    print(f"\nwall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
