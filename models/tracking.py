"""MLflow: the tracking store, the runs of a training job, the logged model and the registry's champion.

One parent run per training job; a child run per parameter setting with its per-fold validation metrics (the
fold is the metric's step), their mean and std, and a `chosen` tag. The final model is logged in the parent run
and registered; it takes the alias `champion` only if it beats the current champion on the same test folds.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conf import TrackingConf
from conf.storage import is_s3, s3_uri

CHAMPION, CHALLENGER = "champion", "challenger"
REFERENCE_ARTIFACT = "reference/profile.json"  # the training reference of a run's model (models.reference)


# the URI this process last gave `mlflow.set_tracking_uri`, which also writes it to MLFLOW_TRACKING_URI: that value
# in the environment is ours, not the user's, and must not outlive the config that chose it
_set_here: str | None = None


def tracking_uri(tracking: TrackingConf) -> str:
    """MLFLOW_TRACKING_URI when the user set it, else the config's; a relative sqlite path becomes absolute, and
    the folder of a sqlite store is created (SQLite creates the file, not its folder)."""
    from_environment = os.environ.get("MLFLOW_TRACKING_URI")
    uri = from_environment if from_environment and from_environment != _set_here else tracking.tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri[len(prefix):]).resolve()  # sqlite:////abs/path keeps its leading slash here
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = prefix + str(path)
    return uri


def use_experiment(tracking: TrackingConf, s3_endpoint: str | None = None) -> str:
    """Point MLflow at the store and make the experiment (created on first use) the active one; returns its id.
    An artifact root on S3 (`s3://` or `s3a://`) is written through boto3, at `s3_endpoint` when given (a local or
    other S3-compatible endpoint: MLflow reads it from MLFLOW_S3_ENDPOINT_URL)."""
    if s3_endpoint and is_s3(tracking.artifact_root):
        os.environ["MLFLOW_S3_ENDPOINT_URL"] = s3_endpoint
    global _set_here
    uri = tracking_uri(tracking)
    mlflow.set_tracking_uri(uri)
    _set_here = uri
    mlflow.set_registry_uri(uri)
    experiment = mlflow.get_experiment_by_name(tracking.experiment)
    # creating a new SQL store runs alembic migrations, whose logging setup disables every existing logger
    logging.getLogger("fraud").disabled = False
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        location = None
        root = tracking.artifact_root
        if root and uri.startswith(("sqlite:", "file:", "/")):
            # MLflow's artifact stores know S3 as s3:// only; a local root goes beside the store, not ./mlruns
            location = s3_uri(root) if is_s3(root) else Path(root).resolve().as_uri()
        experiment_id = mlflow.create_experiment(tracking.experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _flat(prefix: str, metrics: dict[str, dict]) -> dict[str, float]:
    flat = {}
    for name, stats in metrics.items():
        for stat in ("mean", "std"):
            if stats[stat] is not None:
                flat[f"{prefix}_{name}_{stat}"] = stats[stat]
    return flat


def log_fold_metrics(prefix: str, metrics: dict[str, dict], model_id: str | None = None) -> None:
    """Per-fold values with the fold as step, and mean / std, on the active run (linked to `model_id` if given)."""
    for name, stats in metrics.items():
        for fold, value in enumerate(stats["folds"]):
            if value is not None:
                mlflow.log_metric(f"{prefix}_{name}", value, step=fold, model_id=model_id)
    mlflow.log_metrics(_flat(prefix, metrics), model_id=model_id)


def log_settings(settings: list[dict[str, Any]], summary: dict[int, dict], chosen: int) -> dict[int, str]:
    """A child run per setting under the active run; returns {setting: run id}."""
    run_ids = {}
    for setting, params in enumerate(settings):
        with mlflow.start_run(run_name=f"setting-{setting}", nested=True) as child:
            mlflow.log_params({**params, "setting": setting})
            log_fold_metrics("val", summary[setting])
            mlflow.set_tags({"chosen": str(setting == chosen).lower(), "kind": "validation"})
            run_ids[setting] = child.info.run_id
    return run_ids


@dataclasses.dataclass(frozen=True)
class Promotion:
    alias: str
    reason: str
    champion_version: str | None


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def promote(client: MlflowClient, name: str, version: str, metric: str, score: float, calendar: list[dict],
            reassess: Callable[[dict[str, str]], float]) -> Promotion:
    """Give `version` the alias champion if there is none or it beats the champion's mean test `metric` on the
    same test folds; else challenger. When the champion was assessed on other folds, `reassess(its tags)` refits
    its recorded setting on this run's test folds and returns its score there; then a tie promotes `version` too:
    the same score on the same folds from a model trained on later data (a scheduled retrain of the same setting
    refits it to exactly the new model's score, and would otherwise never replace the champion)."""
    champion = _champion(client, name)
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION, version)
        return Promotion(CHAMPION, "no champion yet", None)
    tags = champion.tags
    refitted = not (tags.get("test_calendar") == json.dumps(calendar) and f"test_{metric}_mean" in tags)
    if refitted:
        theirs, basis = reassess(tags), "its setting refitted on this run's test folds"
    else:
        theirs, basis = float(tags[f"test_{metric}_mean"]), "its recorded score on the same test folds"
    if score > theirs or (refitted and score == theirs):
        client.set_registered_model_alias(name, CHAMPION, version)
        verb = "beats" if score > theirs else "equals, on later data,"
        reason = f"{metric} {score:.4f} {verb} champion v{champion.version} ({theirs:.4f}, {basis})"
        return Promotion(CHAMPION, reason, champion.version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    reason = f"{metric} {score:.4f} does not beat champion v{champion.version} ({theirs:.4f}, {basis})"
    return Promotion(CHALLENGER, reason, champion.version)


def version_tags(params: dict[str, Any], features: list[str], scale: bool, class_weight: str | None,
                 calendar: list[dict], test_metrics: dict[str, dict], learner: str = "gbt") -> dict[str, str]:
    """What the registry keeps with a version: enough to compare and to refit it on other folds."""
    tags = {"learner": learner, "params": json.dumps(params, sort_keys=True), "features": json.dumps(features),
            "scale": json.dumps(scale), "class_weight": json.dumps(class_weight),
            "test_calendar": json.dumps(calendar)}
    tags.update({k: repr(v) for k, v in _flat("test", test_metrics).items()})
    return tags


@dataclasses.dataclass(frozen=True)
class ModelRef:
    uri: str
    name: str | None
    version: str | None
    run_id: str | None


def resolve(uri: str) -> ModelRef:
    """Name, version and run of a model URI: `models:/name@alias`, `models:/name/version` or any other URI."""
    client = MlflowClient()
    if uri.startswith("models:/"):
        path = uri[len("models:/"):]
        if "@" in path:
            name, alias = path.split("@", 1)
            found = client.get_model_version_by_alias(name, alias)
        else:
            name, version = path.split("/", 1)
            found = client.get_model_version(name, version)
        return ModelRef(uri, found.name, str(found.version), found.run_id)
    return ModelRef(uri, None, None, mlflow.models.get_model_info(uri).run_id)


def load(uri: str):
    """(PipelineModel, ModelRef) of a model URI; a missing model is an error naming the URI."""
    try:
        ref = resolve(uri)
    except MlflowException as exc:
        raise LookupError(f"no model at {uri} in the MLflow registry at {mlflow.get_registry_uri()}: "
                          f"{str(exc).splitlines()[0]} (train one first: fraud train)") from None
    return mlflow.spark.load_model(uri), ref


def load_reference(run_id: str) -> dict:
    """The training reference logged with the model of `run_id`; a model trained without one is an error."""
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{REFERENCE_ARTIFACT}")
    except (MlflowException, OSError) as exc:
        raise LookupError(f"run {run_id} in {mlflow.get_tracking_uri()} has no {REFERENCE_ARTIFACT} (a model "
                          f"trained before monitoring existed: retrain it with fraud train)") from exc
