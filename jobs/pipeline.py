"""The main job: the whole pipeline end to end on one Spark session, on the config's paths.

    fraud pipeline [--config local|emr|FILE] [--set section.key=value ...]
    spark-submit jobs/pipeline.py [--config ...]

Today: simulate -> validate -> build features -> train, select and register the model (MLflow) -> score the
last `scoring.pipeline_days` dates with the champion -> print a summary. Publishing joins when it lands.
"""
from __future__ import annotations

import datetime as dt
import sys
import time

from jobs import build_features, generate, score, train
from jobs.common import base_parser, build_session, configure_logging, log, parse_config
from jobs.tables import table_path


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    started = time.perf_counter()
    spark = build_session(config)
    simulated = generate.run(spark, config, config.paths.raw)
    features = build_features.run(spark, config, table_path(config.paths.raw, "transactions"), config.paths.features)
    trained = train.run(spark, config, config.paths.features, config.paths.training)
    last = dt.date.fromisoformat(features["last_date"])
    scored = score.run(spark, config, config.paths.features, config.paths.publish,
                       last - dt.timedelta(days=config.scoring.pipeline_days - 1), last)
    log.info("pipeline done in %.1f s", time.perf_counter() - started)
    print("Simulated transactions (" + config.paths.raw + ")")
    print(generate.format_summary(simulated))
    print("\nFeatures (" + config.paths.features + ")")
    print("\n".join(f"{k:<22}{v}" for k, v in features.items()))
    print("\nTraining (" + config.paths.training + ")")
    print(train.report(trained, config.protocol.top_k))
    print("\nScoring (" + config.paths.publish + "/scored, /alerts)")
    print("\n".join(f"{k:<22}{v}" for k, v in scored.items()))
    print(f"\nwall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
