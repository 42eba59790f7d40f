"""Train the fraud model: prequential model selection on the validation folds, assessment of the chosen setting
on the test folds, the final fit on the most recent training block, MLflow tracking and registration.

    spark-submit jobs/train.py --features FEATURES_TABLE --output DIR [--end-date D] [--config FILE ...]
    fraud train --features data/features --output data/training

Everything needed is checked before the first fit: the model's columns, the dates of every fold, no nulls in
inputs, and a fraud in every fold. The job prints a results table beside the book's and writes
DIR/summary.json; the fold scores stay in DIR/predictions/ for inspection.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import reduce
from pathlib import Path

import mlflow
import pyspark
from mlflow import MlflowClient
from pyspark import StorageLevel
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession, functions as F, types as T

from conf import Config, ConfigError
from conf.redact import redact_text
from expectations.contracts import PARTITION_COLUMN, ContractError, training_contract
from expectations.quarantine import SOURCE_FILE
from jobs.common import (base_parser, build_session, configure_logging, iso_date, load_tracking_credentials,
                         parse_config, step)
from jobs.files import remove_folders, require_locations, write_text
from jobs.tables import FEATURES, input_table, partitions as table_partitions, read
from models import anomaly, plots, reference, tracking
from models.folds import (DAY, FINAL, PERIOD, TEST, UNITS, VALIDATION, Fold, assessed_rows, calendar, final_fold,
                          prequential_folds, training_rows, with_period)
from models.metrics import ranking_metrics, score_histogram, threshold_table
from models.pipeline import SCORE, feature_importances, number_of_trees, parameter_settings, scores_by_trees
from models.report import meets_targets, results_table
from models.training import (METRICS, FoldData, choose, fit, fold_metrics, prepare_folds, run_grid, summarize,
                             use_checkpoints)

THRESHOLDS = [i / 100 for i in range(101)]

HISTOGRAM_BINS = 50

DATA_END_TAG = "data_end"  # the last date a training run could use (its features table's, or --end-date)


def fold_periods(fold: Fold) -> list:
    """Every period (date, or hour with hours) from the fold's first to its last."""
    return [fold.first_date + fold.unit * i for i in range((fold.last_date - fold.first_date) // fold.unit + 1)]


def fold_dates(folds: list[Fold]) -> list[dt.date]:
    """The dates (partitions) the folds' periods fall on."""
    dates = set()
    for fold in folds:
        dates.update(p.date() if isinstance(p, dt.datetime) else p for p in fold_periods(fold))
    return sorted(dates)


def read_columns(config: Config) -> tuple[str, ...]:
    """The model's inputs, and the anomaly signals' when they are on."""
    return tuple(dict.fromkeys([*config.model.features, *(config.anomaly.inputs if config.anomaly.enabled else ())]))


def inputs_contract(config: Config):
    """The training contract, and with hours each row's instant (its hour is its period)."""
    contract = training_contract(read_columns(config), config.model.label)
    if UNITS[config.protocol.unit] == DAY:
        return contract
    instant = T.StructField("tx_datetime", T.TimestampType(), nullable=False)
    return dataclasses.replace(contract, schema=T.StructType([*contract.schema.fields, instant]))


def read_inputs(spark: SparkSession, config: Config, table: str, end: dt.date | None) -> tuple[DataFrame, list[Fold]]:
    """The rows every fold needs (`in_fixed_order`), after checking that each of their dates holds data."""
    rows, folds = read_checked(spark, config, table, end)
    return in_fixed_order(rows, config), folds


def in_fixed_order(rows: DataFrame, config: Config) -> DataFrame:
    """The same rows in the same tasks and order however the table's files hold them (date folders or Iceberg's
    files): the fits' bin boundaries are sketched from the rows as they come. A shuffle of every row: what needs no
    order (`date_counts`) reads them as `read_checked` gives them."""
    return (rows.repartition(config.spark.shuffle_partitions, PARTITION_COLUMN, "transaction_id")
            .sortWithinPartitions(PARTITION_COLUMN, "transaction_id"))


def read_checked(spark: SparkSession, config: Config, table: str,
                 end: dt.date | None) -> tuple[DataFrame, list[Fold]]:
    """The rows every fold needs as the table's files hold them, after checking that each of their dates holds
    data."""
    source = input_table(spark, config, table, FEATURES)
    partitions = {d: p for d, p in table_partitions(spark, source).items() if p.files}
    contract = inputs_contract(config)
    if not partitions:
        raise ContractError(contract.name, table, None, "not_empty", "the features table has no data files")
    last = end or max(partitions)
    folds = [*prequential_folds(config.protocol, VALIDATION), *prequential_folds(config.protocol, TEST),
             final_fold(config.protocol, last)]
    missing = [d for d in fold_dates(folds) if d not in partitions]
    if missing:
        raise ContractError(contract.name, table, PARTITION_COLUMN, "dates_have_data",
                            f"{len(missing)} date(s) the folds need have no data, from {missing[0]} to {missing[-1]} "
                            f"(the table holds {min(partitions)} to {max(partitions)}; see protocol.* and "
                            f"--end-date)")
    needed = [partitions[d] for d in fold_dates(folds)]
    rows = read(spark, source, needed, contract, allow_extra_columns=True).drop(SOURCE_FILE)
    return with_period(rows, config.protocol.unit), folds


def date_counts(rows: DataFrame, config: Config, table: str) -> dict:
    """{period: (rows, frauds)} from one aggregate, which also refuses rows that break the training contract. A
    period is a date, or with hours a UTC datetime (collected as epoch seconds: a timestamp would come back in the
    driver's local zone)."""
    contract = training_contract(read_columns(config), config.model.label)
    broken = [F.sum(F.when(rule.broken(), 1).otherwise(0)).alias(f"broken_{i}")
              for i, rule in enumerate(contract.row_rules)]
    by_day = UNITS[config.protocol.unit] == DAY
    period = F.col(PARTITION_COLUMN) if by_day else F.unix_timestamp(PERIOD)
    table_rows = rows.groupBy(period.alias("period")).agg(
        F.count(F.lit(1)).alias("rows"), F.sum(config.model.label).alias("frauds"), *broken).collect()
    for i, rule in enumerate(contract.row_rules):
        bad = sum(r[f"broken_{i}"] for r in table_rows)
        if bad:
            raise ContractError(contract.name, table, rule.column, rule.name,
                                f"{bad:,} row(s) {rule.description}; the model cannot train on them")
    def key(value):
        return value if by_day else dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return {key(r["period"]): (r["rows"], r["frauds"] or 0) for r in table_rows}


def check_frauds(prepared: list[FoldData], counts: dict, label: str, table: str) -> None:
    """Every training block and every test period (after removing known cards) must hold a fraud. The test
    periods' frauds come from one aggregate, which also fills their caches."""
    tested = [(i, data.test) for i, data in enumerate(prepared) if data.test is not None]
    test_frauds = {}
    if tested:
        union = reduce(DataFrame.unionByName, [df.select(F.lit(i).alias("_fold"), F.col(label)) for i, df in tested])
        test_frauds = {r["_fold"]: r["frauds"] or 0
                       for r in union.groupBy("_fold").agg(F.sum(label).alias("frauds")).collect()}  # a row a fold
    for i, data in enumerate(prepared):
        fold = data.fold
        train_frauds = block_counter(counts)(fold)[1]
        for where, frauds in (("training block", train_frauds), ("test days", test_frauds.get(i))):
            if frauds == 0:
                raise ContractError("training_features", table, label, "fold_has_fraud",
                                    f"{fold.kind} fold {fold.index} ({json.dumps(fold.as_dict())}): no fraud in its "
                                    f"{where}; move protocol.training_start or the folds")


def block_counter(counts: dict):
    def rows_and_frauds(fold: Fold) -> tuple[int, int]:
        periods = [fold.fit_start + fold.unit * i for i in range(fold.fit_days)]
        # every date is known to hold data (read_inputs); an hour may hold none
        found = [counts.get(p, (0, 0)) for p in periods]
        return sum(rows for rows, _ in found), sum(frauds for _, frauds in found)
    return rows_and_frauds


def reassess(spark, config, rows, counts, root: str):
    """Refit the champion's recorded setting on this run's test folds: its mean selection metric there."""
    def score_champion(tags: dict[str, str]) -> float:
        features = json.loads(tags["features"])
        # a version registered before learners were configurable is a GBT
        model = dataclasses.replace(config.model, features=tuple(features), scale=json.loads(tags["scale"]),
                                    class_weight=json.loads(tags["class_weight"]), learner=tags.get("learner", "gbt"))
        if not set(features) <= set(rows.columns):
            raise ContractError("training_features", root, next(iter(set(features) - set(rows.columns))),
                                "required_column", "the champion needs it to be compared on these folds")
        folds = prepare_folds(rows, prequential_folds(config.protocol, TEST), model, block_counter(counts))
        run_grid({0: json.loads(tags["params"])}, folds, model, f"{root}/champion")
        return summarize(fold_metrics(spark, f"{root}/champion", TEST, config.protocol, model.label))[0][
            config.model.selection_metric]["mean"]
    return score_champion


def figure_tables(spark, scores_root: str, chosen: int, label: str) -> tuple[list[dict], list[dict]]:
    """The chosen setting's threshold table and score histogram over its test-fold scores."""
    test_scores = spark.read.parquet(f"{scores_root}/{TEST}").where(F.col("setting") == chosen)
    thresholds = [r.asDict() for r in threshold_table(test_scores, THRESHOLDS, label=label).collect()]
    bins = [r.asDict() for r in score_histogram(test_scores, HISTOGRAM_BINS, label=label).collect()]
    return thresholds, bins


def log_figures(tables: tuple[list[dict], list[dict]], importances, fold_calendar, label: str) -> dict:
    """Threshold table, curves, histogram, importance and calendar of the chosen setting (`tables`: from
    `figure_tables`), as run artifacts."""
    thresholds, bins = tables
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        plots.roc_and_pr_curves(thresholds, "test folds, chosen setting", out)
        plots.score_histogram(bins, out, label)
        plots.feature_importance(importances, out)
        plots.fold_calendar(fold_calendar, out)
        (out / "fold_calendar.json").write_text(json.dumps(fold_calendar, indent=2))
        (out / "threshold_table.json").write_text(json.dumps(thresholds, indent=2, default=str))
        (out / "feature_importance.json").write_text(json.dumps(importances, indent=2))
        mlflow.log_artifacts(folder, artifact_path="report")
    return {"thresholds": thresholds}


def select(spark, config: Config, settings: list[dict], validation_folds: list[FoldData], scores_root: str):
    """Every setting on every validation fold; the best mean of the selection metric wins. Returns ({setting:
    metrics}, the chosen setting)."""
    run_grid(dict(enumerate(settings)), validation_folds, config.model, scores_root)
    validation = summarize(fold_metrics(spark, scores_root, VALIDATION, config.protocol, config.model.label))
    return validation, choose(validation, config.model.selection_metric)


def assess(spark, config: Config, chosen: int, params: dict, test_folds: list[FoldData],
           scores_root: str) -> tuple[dict, tuple[list[dict], list[dict]]]:
    """The chosen setting refitted and scored on each test fold: ({metric: {mean, std, folds}}, the report's tables
    over its scores, `figure_tables`). No MLflow logging: it runs beside the final model's."""
    run_grid({chosen: params}, test_folds, config.model, scores_root)
    with ThreadPoolExecutor(max_workers=1) as beside:  # both read the scores just written: two queries at once
        tables = beside.submit(timed_step, "report tables", figure_tables, spark, scores_root, chosen,
                               config.model.label)
        test = summarize(fold_metrics(spark, scores_root, TEST, config.protocol, config.model.label))[chosen]
        return test, tables.result()


def fit_signals(config: Config, rows: DataFrame, fold: Fold, train: DataFrame | None = None) -> anomaly.Signals:
    """The signals fitted on the fold's training block: `train` (its cached rows) when it holds every input."""
    conf = config.anomaly
    if train is None or not set(conf.inputs) <= set(train.columns):
        train = training_rows(rows, fold)
    return anomaly.fit_signals(train, conf.inputs, conf.kmeans_k, conf.isolation_sample_rows, conf.isolation_trees,
                               conf.seed, conf.kmeans_sample_rows or None)


def assess_signals(spark, config: Config, rows: DataFrame, folds: list[FoldData], root: str) -> dict[str, dict]:
    """Each anomaly signal alone as the score on the test folds, fitted on each fold's training block (no label is
    read): {signal: {metric: {mean, std, folds}}}. Folds run `model.parallelism` at a time, on their cached rows."""
    label = config.model.label
    columns = ["transaction_id", "customer_id", PARTITION_COLUMN, label]

    def signal_scores(data: FoldData) -> None:
        fold = data.fold
        assessed = data.test
        if not set([*columns, *config.anomaly.inputs]) <= set(assessed.columns):
            assessed = assessed_rows(rows, fold, label=label)
        fit_signals(config, rows, fold, data.train).apply(assessed).select(*columns, *anomaly.SIGNALS).write.mode(
            "overwrite").parquet(f"{root}/{TEST}/fold={fold.index}")

    with ThreadPoolExecutor(max_workers=max(1, config.model.parallelism)) as pool:
        list(pool.map(signal_scores, folds))
    written = spark.read.parquet(f"{root}/{TEST}")
    per_signal = [written.select("transaction_id", "customer_id", PARTITION_COLUMN, label, "fold",
                                 F.col(signal).alias("score"), F.lit(i).alias("setting"))
                  for i, signal in enumerate(anomaly.SIGNALS)]
    table = ranking_metrics(reduce(DataFrame.unionByName, per_signal), config.protocol.top_k, by=("setting", "fold"),
                            label=label)
    summary = summarize([r.asDict() for r in table.orderBy("setting", "fold").collect()])  # signals x folds rows
    alone = {signal: summary[i] for i, signal in enumerate(anomaly.SIGNALS)}
    return alone  # logged with the signals' models (`register`)


def timed_step(name: str, function, *args):
    with step(name):
        return function(*args)


def signal_work(spark, config: Config, rows: DataFrame, test_folds: list[FoldData], final: FoldData,
                root: str) -> tuple[anomaly.Signals, dict]:
    """The signals of the final block, and (`anomaly.evaluate`) each signal alone on the test folds."""
    alone = {}
    if config.anomaly.evaluate:
        alone = timed_step("anomaly signals alone on the test folds", assess_signals, spark, config, rows, test_folds,
                           root)
    return timed_step("anomaly signals", fit_signals, config, rows, final.fold, final.train), alone


def training_reference(config: Config, final_data: FoldData, final: PipelineModel) -> dict:
    """What monitoring compares each scored day with: the final block's inputs and the final model's scores, scored
    once (one pass, persisted) for the reference's three aggregates; in the block's own partitions: its quantiles are
    merged from a sketch a partition, and spread over more they came out differently run to run."""
    features = list(config.model.features)
    trees = number_of_trees(final)
    block = scores_by_trees(final, final_data.train, features, [trees]).withColumnRenamed(
        f"{SCORE}_{trees}", reference.SCORE).persist(StorageLevel.MEMORY_AND_DISK)
    fold = final_data.fold
    days = fold.fit_days if fold.unit == DAY else fold.fit_days * (fold.unit / DAY)  # monitoring is daily
    try:
        return reference.build(block, [*features, reference.SCORE], days)
    finally:
        block.unpersist()


def final_work(config: Config, final_data: FoldData, params: dict) -> tuple[PipelineModel, dict]:
    """The final fit, then its training reference (`training_reference`)."""
    model = timed_step("final fit", fit, final_data, config.model, params)
    return model, timed_step("training reference", training_reference, config, final_data, model)


def requirements(model_conf) -> list[str]:
    """The logged models' pip requirements, explicit: inferring them loads the model in a new process with its own
    Spark (30 s)."""
    pinned = [f"pyspark=={pyspark.__version__}", f"mlflow=={mlflow.__version__}"]
    if model_conf.learner == "xgboost":
        import xgboost

        pinned.append(f"xgboost-cpu=={xgboost.__version__}")
    return pinned


def log_final_model(config: Config, final_data: FoldData, final: PipelineModel, reference_figures: dict):
    """Log the final model with its signature, a 5-row input example and its training reference; returns its
    `ModelInfo`. Registered later (`register`), once the test folds have measured it."""
    mlflow.log_dict(reference_figures, tracking.REFERENCE_ARTIFACT)
    example = final_data.train.select(*config.model.features).limit(5).toPandas()  # a 5-row sample
    return mlflow.spark.log_model(final, "model", input_example=example, pip_requirements=requirements(config.model))


def register(config: Config, info, final: PipelineModel, params: dict, test: dict, test_calendar: list[dict],
             champion_scorer) -> tuple[str, tracking.Promotion, list]:
    """Register the logged final model (`info`) and decide its alias. Returns (version, promotion, feature
    importances)."""
    model_conf = config.model
    importances = feature_importances(final, list(model_conf.features))
    # registered apart: with an artifact root on S3, MLflow's Spark flavour writes the model through Spark and its
    # ModelInfo then carries no registered version
    registered = mlflow.register_model(info.model_uri, model_conf.registered_name)
    version = str(registered.version)
    client = MlflowClient()
    tags = tracking.version_tags(params, list(model_conf.features), model_conf.scale, model_conf.class_weight,
                                 test_calendar, test, model_conf.learner)
    for key, value in tags.items():
        client.set_model_version_tag(model_conf.registered_name, version, key, value)
    promotion = tracking.promote(client, model_conf.registered_name, version, model_conf.selection_metric,
                                 test[model_conf.selection_metric]["mean"], test_calendar, champion_scorer)
    mlflow.set_tags({"promotion": promotion.alias, "promotion_reason": promotion.reason})
    return version, promotion, importances


def prepare(spark, config: Config, features_table: str, end: dt.date | None):
    """Read and check everything before the first fit: (rows, {date: (rows, frauds)}, prepared folds)."""
    unordered, folds = read_checked(spark, config, features_table, end)
    counts = date_counts(unordered, config, features_table)  # a pass without the shuffle that orders the rows
    rows = in_fixed_order(unordered, config)
    prepared = prepare_folds(rows, folds, config.model, block_counter(counts))
    check_frauds(prepared, counts, config.model.label, features_table)
    return rows, counts, prepared


def run(spark: SparkSession, config: Config, features_table: str, output: str, end: dt.date | None = None) -> dict:
    require_locations(spark, features_table, output, config.tracking.artifact_root, config.model.checkpoint_dir)
    model_conf = config.model
    settings = parameter_settings(model_conf)
    if model_conf.selection_metric not in METRICS:
        raise ConfigError(f"model.selection_metric must be one of {', '.join(METRICS)}, "
                          f"got {model_conf.selection_metric!r}")
    output = output.rstrip("/")
    scores_root, timings, started = f"{output}/predictions", {}, time.perf_counter()
    with step("read and check") as figures:
        rows, counts, prepared = prepare(spark, config, features_table, end)
        figures.update(dates=len(counts), rows=sum(r for r, _ in counts.values()), folds=len(prepared))
    by_kind = {kind: [p for p in prepared if p.fold.kind == kind] for kind in (VALIDATION, TEST, FINAL)}
    fold_calendar = calendar([p.fold for p in prepared])
    test_calendar = calendar([p.fold for p in by_kind[TEST]])
    # a killed earlier run's scores (and checkpoints) must not count in this one
    remove_folders(spark, [scores_root, f"{output}/anomaly", f"{output}/_checkpoints"])
    use_checkpoints(spark, model_conf, output)

    load_tracking_credentials(config)  # an HTTPS server's, from Secrets Manager
    tracking.use_experiment(config.tracking, config.aws.endpoint_url)
    with mlflow.start_run(run_name=f"train {by_kind[FINAL][0].fold.train_end}") as parent:
        final = by_kind[FINAL][0].fold  # it trains on the block whose labels have matured at the data's end
        mlflow.set_tag(DATA_END_TAG, str(final.train_end + final.unit * final.delay_days))  # `retrain --if-due`
        mlflow.log_params({"learner": model_conf.learner, "features": ",".join(model_conf.features),
                           "scale": model_conf.scale, "class_weight": model_conf.class_weight, "selection_metric": model_conf.selection_metric,
                           "grid_size": len(settings),
                           **{f"protocol_{k}": v for k, v in dataclasses.asdict(config.protocol).items()}})
        # the anomaly signals read no label and need no setting: fitted (and assessed alone on the test folds) in
        # the background while the model's fits run; so are the final fit and its training reference, and the test
        # folds and the report's tables, once validation has chosen its setting. None logs to MLflow (its active
        # run is the main thread's)
        with ThreadPoolExecutor(max_workers=3) as background:
            signals_pending = None
            if config.anomaly.enabled:
                signals_pending = background.submit(signal_work, spark, config, rows, by_kind[TEST],
                                                    by_kind[FINAL][0], f"{output}/anomaly")
            with step("validation grid") as figures:
                validation, chosen = select(spark, config, settings, by_kind[VALIDATION], scores_root)
                figures.update(settings=len(settings), fits=len(settings) * len(by_kind[VALIDATION]), chosen=chosen)
            timings["validation_grid"] = round(time.perf_counter() - started, 1)
            final_pending = background.submit(final_work, config, by_kind[FINAL][0], settings[chosen])
            test_pending = background.submit(timed_step, "test folds", assess, spark, config, chosen,
                                             settings[chosen], by_kind[TEST], scores_root)
            # MLflow's logging happens on this thread (the active run is its own) while the test folds are fitted:
            # the settings' child runs, the final model and the anomaly signals; the model is registered once the
            # test folds have measured it
            tracking.log_settings(settings, validation, chosen)
            with step("waiting for the final fit"):
                final_model, reference_figures = final_pending.result()
            with step("log the model"):
                logged = log_final_model(config, by_kind[FINAL][0], final_model, reference_figures)
            signals, alone = signals_pending.result() if signals_pending is not None else (None, {})
            if signals is not None:
                with step("log the anomaly signals"):
                    # logged in the model's run, which is how scoring finds the signals of the model it scores with
                    anomaly.log_signals(signals, requirements(model_conf), alone)
            with step("waiting for the test folds"):
                test, tables = test_pending.result()
            timings["test_folds"] = round(time.perf_counter() - started - sum(timings.values()), 1)
            tracking.log_fold_metrics("test", test)
            mlflow.log_params({f"chosen_{k}": v for k, v in settings[chosen].items()})
            with step("registry") as figures:
                version, promotion, importances = register(
                    config, logged, final_model, settings[chosen], test, test_calendar,
                    reassess(spark, config, rows, counts, f"{output}/reassessment"))
                with step("report figures"):
                    log_figures(tables, importances, fold_calendar, model_conf.label)
                figures.update(version=version, alias=promotion.alias)
        timings["registry"] = round(time.perf_counter() - started - sum(timings.values()), 1)
        run_id = parent.info.run_id
    for data in prepared:
        for df in (data.train, data.test):
            if df is not None:
                df.unpersist()
    remove_folders(spark, [spark.sparkContext.getCheckpointDir()])  # this run's own subfolder of the checkpoints
    timings["total"] = round(time.perf_counter() - started, 1)
    summary = {
        "chosen_setting": chosen, "chosen_params": settings[chosen],
        "selection_metric": model_conf.selection_metric,
        "validation": {m: {k: validation[chosen][m][k] for k in ("mean", "std")} for m in METRICS},
        "test": {m: {k: test[m][k] for k in ("mean", "std")} for m in METRICS},
        "test_folds": {m: test[m]["folds"] for m in METRICS},
        "anomaly_signals_alone": {signal: {m: {k: metrics[m][k] for k in ("mean", "std")} for m in METRICS}
                                  for signal, metrics in alone.items()},
        "meets_book_level": meets_targets(test),
        "mlflow_run_id": run_id, "tracking_uri": redact_text(mlflow.get_tracking_uri()),  # may carry a password
        "registered_model": {"name": model_conf.registered_name, "version": version, "alias": promotion.alias,
                             "reason": promotion.reason},
        "folds": fold_calendar, "feature_importance": importances, "seconds": timings,
        "validation_grid": {s: {m: validation[s][m]["mean"] for m in METRICS} for s in validation},
    }
    write_text(spark, f"{output}/summary.json", json.dumps(summary, indent=2, default=str))
    return summary


def report(summary: dict, k: int) -> str:
    return "\n".join([
        results_table(summary["validation"], summary["test"], k),
        *[f"anomaly signal alone on the test folds, {signal}: " + ", ".join(
            f"{m} {v['mean']:.3f} ± {v['std']:.3f}" for m, v in metrics.items() if v["mean"] is not None)
          for signal, metrics in summary.get("anomaly_signals_alone", {}).items()],
        f"chosen setting {summary['chosen_setting']}: {summary['chosen_params']}",
        f"registered {summary['registered_model']['name']} v{summary['registered_model']['version']} as "
        f"{summary['registered_model']['alias']}: {summary['registered_model']['reason']}",
        f"mlflow run {summary['mlflow_run_id']} ({summary['tracking_uri']}); seconds {summary['seconds']}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0],
                         "fraud train --end-date 2018-09-30 --set model.grid='{maxIter: [100], maxDepth: [3]}'")
    parser.add_argument("--features", help="features table (default: paths.features)")
    parser.add_argument("--output", help="folder for summary.json and the fold scores (default: paths.training)")
    parser.add_argument("--end-date", type=iso_date,
                        help="last date the job may use (default: the table's last); the final model trains on the "
                             "block ending protocol.delay_days before it")
    args = parser.parse_args(argv)
    config = parse_config(args)
    configure_logging()
    features, output = args.features or config.paths.features, args.output or config.paths.training
    spark = build_session(config, uris=[features, output])
    summary = run(spark, config, features, output, args.end_date)
    print(report(summary, config.protocol.top_k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
