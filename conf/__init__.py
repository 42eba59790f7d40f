"""Configuration: one YAML file per environment (`conf/local.yaml`, `conf/emr.yaml`) plus `--set key=value`
overrides, parsed once into a frozen `Config`. Unknown keys and values of the wrong type are errors that name the
file and the key, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import pkgutil
import re
from pathlib import Path
from typing import Any, Mapping, Sequence, get_args, get_origin, get_type_hints

import yaml

CONF_DIR = Path(__file__).resolve().parent
ENVIRONMENTS = ("local", "emr", "s3-local", "emr-demo")
# a SageMaker managed MLflow tracking server, as the sagemaker-mlflow plugin takes it for a tracking URI
MLFLOW_SERVER_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:mlflow-tracking-server/[A-Za-z0-9-]+")


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the source and the key."""


@dataclasses.dataclass(frozen=True)
class SparkConf:
    master: str | None = "local[2]"
    app_name: str = "fraud-platform"
    shuffle_partitions: int = 8
    driver_memory: str | None = "6g"
    ui_enabled: bool = False
    extra: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # driver JVM options of the short jobs (the simulator) on a local master, where the driver JVM runs the tasks;
    # the others (features, training, scoring, the pipeline) keep the JVM's defaults. None: none added
    short_job_java_options: str | None = None
    # `conf.jars` bundles every session loads (e.g. [s3a]); a session over S3 URIs adds s3a itself off EMR
    jars: tuple[str, ...] = ()
    # false where the cluster has the S3 connectors itself (EMR: EMRFS for s3://, its own S3A): nothing fetched,
    # s3:// left to the cluster
    fetch_jars: bool = True


@dataclasses.dataclass(frozen=True)
class PathsConf:
    raw: str = "data/raw"
    features: str = "data/features"
    training: str = "data/training"
    publish: str = "data/publish"  # scored/ and alerts/ tables, their quarantine, manifests and reports


@dataclasses.dataclass(frozen=True)
class DriftConf:
    """Optional drift from `start_date` on, so that monitoring can be shown to catch it (all off by default)."""

    start_date: dt.date | None = None  # None: no drift
    volume_factor: float = 1.0  # every card's mean daily count is multiplied by this
    amount_factor: float = 1.0  # every drawn amount is multiplied by this (before the fraud scenarios)
    # scenario 4, card testing: each day this many cards make small card-not-present payments at random terminals
    card_testing_cards_per_day: int = 0
    card_testing_tx_per_card: int = 6
    card_testing_max_amount: float = 5.0  # amounts ~ U(1, this)


@dataclasses.dataclass(frozen=True)
class SimulatorConf:
    customers: int = 5_000
    terminals: int = 10_000
    days: int = 183
    start_date: dt.date = dt.date(2018, 4, 1)
    seed: int = 0
    grid_size: float = 100.0
    radius: float = 5.0
    fraud_amount_threshold: float = 220.0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14
    compromised_tx_divisor: int = 3  # one in three of a compromised card's transactions, rounded down
    compromised_amount_factor: float = 5.0
    customers_per_task: int = 2_500
    drift: DriftConf = DriftConf()


@dataclasses.dataclass(frozen=True)
class FeaturesConf:
    customer_windows_days: tuple[int, ...] = (1, 7, 30)
    terminal_windows_days: tuple[int, ...] = (1, 7, 30)
    delay_days: int = 7
    night_last_hour: int = 6
    # rows handed to one vectorised window computation; bounds a Python worker's memory at any data size
    rows_per_group: int = 200_000
    # optional inputs of ingested shapes (docs/ingest.md), off by default:
    # home_merchant_distance_km, derived by the ingest job from the card holder's home and the merchant's place
    distance: bool = False
    # category_risk_{n}day_window over the same delayed windows as terminal risk, from the kept column below
    category_risk_windows_days: tuple[int, ...] = ()
    category_column: str = "category"
    # cardholder_age_years (whole years at the transaction's date), derived by the ingest job from a date of birth
    age: bool = False
    # feature families of issue 9 (features/card_behaviour.py, terminal_activity.py, novelty.py, delayed_risk.py),
    # each off when empty / 0; see README "Features" for their definitions. All on by default: together they beat
    # the book's 15 inputs (bench/README.md, "Beat the book"); a family switched off must also leave model.features
    card_behaviour_windows_days: tuple[int, ...] = (7, 30)  # amount z-score and distinct terminals over these windows
    card_recent_seconds: int = 3_600  # card_nb_tx_recent_window: (t - this, t]
    card_gap_cap_days: int = 30  # card_seconds_since_previous is capped here (and a first transaction gets it)
    min_amount_std: float = 1.0  # floor of a z-score's spread, in currency units (a card with equal amounts)
    robust_zscore_days: int = 30  # card_amount_robust_z_{n}day_window: median / MAD of earlier amounts
    robust_zscore_max_rows: int = 50  # ... over at most this many latest earlier transactions
    # card_large_amounts_{n}day_window: earlier rows over (t - n days, t) with a robust z-score above this (needs
    # robust_zscore_days)
    large_amounts_days: int = 7
    large_amount_robust_z: float = 5.0
    terminal_activity_windows_days: tuple[int, ...] = (1, 7, 30)  # label-free terminal volume and mean amount
    novelty_days: int = 30  # card-terminal novelty over (t - n days, t)
    delayed_risk_windows_days: tuple[int, ...] = (7, 30)  # known frauds of terminal and card at the delay


@dataclasses.dataclass(frozen=True)
class ValidationConf:
    enabled: bool = True
    allow_extra_columns: bool = False
    # the Great Expectations Data Docs site (HTML of every suite and run) in <root>/_data_docs/ beside each job's
    # results (docs/data-contracts.md); false: the results are written as JSON only
    data_docs: bool = True


@dataclasses.dataclass(frozen=True)
class IngestConf:
    """`fraud ingest`: tx_time_seconds / tx_time_days count from midnight UTC of `time_origin`; None: the first
    date of the ingested file (set it when files of one table are ingested one by one)."""

    time_origin: dt.date | None = None
    # the secret key of the keyed card id (ingest.sensitive): the environment variable named here, or, when set,
    # the AWS Secrets Manager secret (name or ARN) whose SecretString holds it. Never the key itself in a file.
    card_key_env: str = "FRAUD_CARD_ID_KEY"
    card_key_secret: str | None = None


# The 15 model inputs of handbook §2: the amount and the 14 engineered features, lower-cased.
MODEL_INPUTS = (
    "tx_amount", "tx_during_weekend", "tx_during_night",
    *(f"customer_id_{kind}_{n}day_window" for n in (1, 7, 30) for kind in ("nb_tx", "avg_amount")),
    *(f"terminal_id_{kind}_{n}day_window" for n in (1, 7, 30) for kind in ("nb_tx", "risk")),
)
# The columns of the issue 9 feature families with FeaturesConf's defaults (a test checks them against
# features.families.family_names): the model's default inputs are MODEL_INPUTS and these.
FAMILY_INPUTS = (
    "card_amount_zscore_7day_window", "card_amount_zscore_30day_window",
    "card_nb_terminals_7day_window", "card_nb_terminals_30day_window",
    "card_seconds_since_previous", "card_nb_tx_recent_window", "card_amount_robust_z_30day_window",
    "card_large_amounts_7day_window",
    *(f"terminal_live_{kind}_{n}day_window" for n in (1, 7, 30) for kind in ("nb_tx", "avg_amount")),
    "card_terminal_new_30day_window", "card_terminal_spend_share_30day_window",
    "terminal_known_frauds_7day_window", "terminal_known_frauds_30day_window",
    "terminal_known_fraud_streak", "terminal_known_fraud_streak_days",
    "card_known_frauds_7day_window", "card_known_frauds_30day_window", "card_flagged",
)


@dataclasses.dataclass(frozen=True)
class ModelConf:
    # the book's 15 inputs and every family's (test AP 0.723 against 0.662 with the 15 alone: bench/README.md)
    features: tuple[str, ...] = (*MODEL_INPUTS, *FAMILY_INPUTS)
    label: str = "tx_fraud"
    # standard scaling fitted on each training block (handbook §3): off, since a tree's splits do not change under
    # it (the same validation and test AP to 1e-9 with XGBoost) and it cost a pass over the block and 5 s a fit
    scale: bool = False
    # weight of a fraud row in the fit: null (1), "balanced" (non-frauds / frauds of the training block) or a number;
    # 2 beat 1 on the validation folds, with the 15 inputs (AP 0.690 vs 0.688 at 100 trees, depth 3, step 0.3) and
    # with the 37 (AP 0.724 vs 0.722 for 1 and 5 at 50 trees) and the 38 (0.741 vs 0.738 and 0.739): bench/README.md
    class_weight: str | None = "2"
    # the classifier: "xgboost" (xgboost.spark.SparkXGBClassifier, hist trees with 1024 bins) or "gbt" (Spark ML's
    # GBTClassifier). XGBoost is the default: as good on the validation folds (AP 0.756 against 0.752) for a fifth
    # of the fit time (bench/README.md "Learners"). The grids name GBTClassifier's params either way
    # (models.pipeline.XGBOOST_NAMES translates them)
    learner: str = "xgboost"
    # GBTClassifier params over the model's defaults (models.pipeline.GBT_DEFAULTS); `grid` ones are searched
    gbt: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # SparkXGBClassifier params over models.pipeline.XGBOOST_DEFAULTS, used when learner is xgboost
    xgboost: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    grid: Mapping[str, tuple[Any, ...]] = dataclasses.field(default_factory=lambda: {
        "maxIter": (25, 50, 100), "maxDepth": (3, 5, 7), "stepSize": (0.1, 0.3)})
    # the grid `fraud pipeline` (the README's first command) searches instead of `grid`, null for `grid`; `fraud
    # train` always searches `grid`. One 300-tree fit a fold, read at 100, 200 and 300 trees: XGBoost's best on the
    # validation folds. For GBT, {maxIter: [50, 100], maxDepth: [3], stepSize: [0.3]} is its best at a third of
    # the trees (bench/README.md "Learners")
    pipeline_grid: Mapping[str, tuple[Any, ...]] | None = dataclasses.field(default_factory=lambda: {
        "maxIter": (100, 200, 300), "maxDepth": (3,), "stepSize": (0.05,)})
    selection_metric: str = "average_precision"
    registered_name: str = "fraud-gbt"
    parallelism: int = 2  # fits run at the same time (threads sharing the session)
    # a fold's training rows are coalesced to one partition per this many rows before its fits: a GBT fit is a
    # chain of small jobs (a few per tree level), and on a week of data their per-task cost outweighs the work
    rows_per_fit_partition: int = 500_000
    # where GBT fits checkpoint their running predictions (every `checkpointInterval`, 10, trees); without it the
    # lineage grows with every tree and a fit of a few hundred trees dies of a StackOverflowError. Null: the
    # training output's `_checkpoints` folder. On a cluster it must be a shared file system (HDFS, S3)
    checkpoint_dir: str | None = None

    def __post_init__(self):
        if self.learner not in ("gbt", "xgboost"):
            raise ConfigError(f"model.learner must be gbt or xgboost, got {self.learner!r}")


@dataclasses.dataclass(frozen=True)
class ProtocolConf:
    """Train / delay / test blocks and prequential folds of handbook §3; the book's values by default, except
    that training also reads the 14 days before each block (`history_days`, chosen on the validation folds)."""

    training_start: dt.date = dt.date(2018, 7, 25)  # the first (oldest) test fold's training start
    block_days: int = 7
    delay_days: int = 7
    history_days: int = 14  # extra training days before each block (the book: 0); test days are unchanged
    folds: int = 4
    top_k: int = 100
    # `hours` for sets a few days long: block_days, delay_days and history_days then count hours, and the first
    # test fold trains from `training_start_hour` (UTC) of training_start
    unit: str = "days"
    training_start_hour: int = 0

    def __post_init__(self):
        if self.history_days < 0:
            raise ConfigError(f"protocol.history_days must be 0 or more, got {self.history_days}")
        if self.unit not in ("days", "hours"):
            raise ConfigError(f"protocol.unit must be days or hours, got {self.unit!r}")
        if not 0 <= self.training_start_hour <= 23:
            raise ConfigError(f"protocol.training_start_hour must be 0 to 23, got {self.training_start_hour}")


# label-free inputs of the anomaly signals (the terminal risk windows and delayed-risk features read labels)
ANOMALY_INPUTS = ("tx_amount", "tx_during_weekend", "tx_during_night",
                  *(f"customer_id_{kind}_{n}day_window" for n in (1, 7, 30) for kind in ("nb_tx", "avg_amount")),
                  *(f"terminal_id_nb_tx_{n}day_window" for n in (1, 7, 30)),
                  "card_amount_zscore_7day_window", "card_amount_zscore_30day_window",
                  "card_amount_robust_z_30day_window", "card_seconds_since_previous", "card_nb_tx_recent_window")


@dataclasses.dataclass(frozen=True)
class AnomalyConf:
    """Unsupervised anomaly signals (`models.anomaly`): fitted by training on the final block's label-free inputs,
    logged with the model, and added by scoring to every scored row as scores of their own (not model inputs: as
    inputs they added 0.002 AP, bench/README.md)."""

    enabled: bool = True
    inputs: tuple[str, ...] = ANOMALY_INPUTS
    kmeans_k: int = 8
    isolation_sample_rows: int = 20_000  # the isolation forest is fitted on the driver, on this many sampled rows
    # k-means (and its scaler) is fitted on the driver on about this many rows sampled from the block (0: in Spark, on
    # all of them); the forest's rows come from the same sample
    kmeans_sample_rows: int = 50_000
    isolation_trees: int = 100
    seed: int = 42
    # training also fits the signals on each test fold's training block and logs each signal's metrics alone
    evaluate: bool = True


@dataclasses.dataclass(frozen=True)
class MonitoringConf:
    """Drift and performance of each scored day against the training reference of the model that scored it."""

    # a single day against a 7-day reference: weekend days would always drift; night share is stable, kept
    exclude_features: tuple[str, ...] = ("tx_during_weekend",)
    psi_threshold: float = 0.1  # feature or score PSI above this breaches (0.1: "moderate shift" by convention)
    ks_threshold: float = 0.1  # KS distance at the reference quantiles above this breaches
    volume_ratio_bounds: tuple[float, float] = (0.8, 1.25)  # the day's rows / the reference's rows a day
    mean_tolerance: float = 0.25  # GX: a day's mean within this many reference std of the reference mean
    range_mostly: float = 0.99  # GX: this share of a day's values inside the reference's [min, max]
    min_average_precision: float | None = None  # a mature day below this breaches (daily AP is noisy: off)
    sns_topic_arn: str | None = None  # when set, a run with a degraded day publishes a message there


@dataclasses.dataclass(frozen=True)
class RetrainConf:
    """`fraud retrain`: a new model on the latest labelled weeks (the protocol's folds moved to end where labels
    have matured), registered as a challenger and promoted only through the champion/challenger gate."""

    every_days: int = 7  # `fraud retrain --if-due` trains when the last training's data ended this many days ago
    with_daily: bool = False  # `fraud daily` retrains (when due) after the day's monitoring
    on_drift: bool = False  # `fraud daily` also retrains when the day's monitoring found it degraded

    def __post_init__(self):
        if self.every_days < 1:
            raise ConfigError(f"retrain.every_days must be 1 or more, got {self.every_days}")


@dataclasses.dataclass(frozen=True)
class ScheduleConf:
    """`fraud emr schedule`: EventBridge Scheduler schedules starting Step Functions state machines that run
    `fraud daily` (nightly) and `fraud retrain --if-due` (weekly) on a transient EMR cluster (emr/schedule.py)."""

    prefix: str = "fraud"  # the state machines and schedules are <prefix>-daily and <prefix>-retrain
    daily_cron: str = "cron(30 2 * * ? *)"  # 02:30 every night, once yesterday's raw partition has landed
    retrain_cron: str = "cron(0 4 ? * SUN *)"  # Sundays 04:00, after that night's daily run
    timezone: str = "UTC"
    timeout_seconds: int = 21_600  # a whole run, cluster start to termination
    step_retries: int = 1  # a failed step runs again this many times (the jobs replace what they write)
    retry_interval_seconds: int = 300
    state_machine_role: str = "fraud-states"  # roles made from `fraud emr iam` (emr/iam/)
    scheduler_role: str = "fraud-scheduler"
    sns_topic_arn: str | None = None  # the failure message goes there (required to make the schedules)


@dataclasses.dataclass(frozen=True)
class ScoringConf:
    model_uri: str | None = None  # default: models:/<model.registered_name>@champion
    investigate_cards: int = 100  # a day's top cards by score: the investigators' queue (handbook §4)
    review_threshold: float = 0.5  # other transactions at or above this probability are flagged for review
    reasons: int = 3
    pipeline_days: int = 7  # the pipeline command scores the last this many dates of the features table
    sns_topic_arn: str | None = None  # when set, each scoring run's summary and top alerts are published there
    notify_alerts: int = 10  # how many of the last day's top alerts the notification lists


@dataclasses.dataclass(frozen=True)
class TrackingConf:
    # MLFLOW_TRACKING_URI, when set, wins over this; relative sqlite paths are relative to the working folder
    tracking_uri: str = "sqlite:///data/mlflow/mlflow.db"
    artifact_root: str | None = "data/mlflow/artifacts"  # for new experiments on a local store
    experiment: str = "fraud-training"
    # `environment: emr` refuses an http:// tracking URI (no TLS) unless this is true, e.g. for a server inside the
    # cluster's own VPC reached through a TLS-terminating proxy the config cannot see
    allow_insecure_http: bool = False
    # a Secrets Manager secret (ARN) holding {"username", "password"} or {"token"} for an HTTPS server: the jobs
    # read it at start into MLflow's environment variables, so no credential is in the config, the step
    # arguments or the logs (MLFLOW_TRACKING_USERNAME / _PASSWORD / _TOKEN already set in the environment win)
    credentials_secret: str | None = None


@dataclasses.dataclass(frozen=True)
class CatalogConf:
    """The Apache Iceberg catalog of the output tables (`jobs.tables`, `conf.storage.catalog_settings`). `kind`:
    None (no catalog: Parquet folders, local only, no jars: the default local run), `jdbc` (an embedded catalog in
    a SQLite file: atomic commits, no server; conf/s3-local.yaml) or `glue` (the AWS Glue Data Catalog, on EMR,
    where the namespace is the Glue database Athena reads)."""

    kind: str | None = None
    name: str = "fraud"  # the Spark catalog: tables are <name>.<namespace>.<table>
    namespace: str = "fraud"
    uri: str = "jdbc:sqlite:data/mlflow/catalog.db"  # `jdbc`: beside the MLflow store; a relative path is made absolute
    warehouse: str = "data/warehouse"  # where table files go: a folder, s3a:// or s3:// prefix
    # `fraud maintain` (the pipeline's last step): snapshots older than this expire (the last `retain_snapshots`
    # stay whatever their age), so time travel reaches this far back; files no snapshot names are removed once
    # older than `orphan_grace_hours` (younger ones may belong to a write under way; Iceberg's floor is a day)
    snapshot_retention_days: int = 30
    retain_snapshots: int = 5
    orphan_grace_hours: int = 24

    def __post_init__(self):
        if min(self.snapshot_retention_days, self.retain_snapshots) < 1 or self.orphan_grace_hours < 24:
            raise ConfigError("catalog.snapshot_retention_days and retain_snapshots must be >= 1, "
                              "orphan_grace_hours >= 24 (a write under way must not lose its files)")
        if self.kind not in (None, "jdbc", "glue"):
            raise ConfigError(f"catalog.kind must be null, jdbc or glue, got {self.kind!r}")


@dataclasses.dataclass(frozen=True)
class AwsConf:
    region: str | None = None  # None: boto3's own resolution (environment, profile, instance metadata)
    endpoint_url: str | None = None  # a different endpoint, e.g. a local one for tests; None on AWS


@dataclasses.dataclass(frozen=True)
class EmrConf:
    """Packaging, S3 layout and the cluster the pipeline runs on (`fraud emr ...`); see README "Run on EMR"."""

    bucket: str | None = None  # artifacts go to s3://<bucket>/<prefix>/<git commit>/
    prefix: str = "fraud-platform"
    account_id: str | None = None  # only for the IAM policy documents (`fraud emr iam`)
    release_label: str = "emr-7.5.0"
    cluster_name: str = "fraud-pipeline"
    cluster_id: str | None = None  # an existing cluster to add the steps to; None: a new transient cluster
    log_uri: str | None = None  # s3:// folder for cluster and step logs
    service_role: str = "fraud-emr-service"
    instance_profile: str = "fraud-emr-ec2"
    subnet_id: str | None = None
    ec2_key_name: str | None = None
    instance_fleets: bool = False  # fleets (several core/task types for Spot capacity) instead of groups
    master_instance_type: str = "m6i.xlarge"
    core_instance_types: tuple[str, ...] = ("m6i.2xlarge",)  # groups use the first; fleets use all
    core_instance_count: int = 2
    task_instance_count: int = 0
    spot: bool = True  # task nodes on Spot; master and core (HDFS, application masters) stay on demand
    ebs_volume_gib: int = 64
    idle_timeout_seconds: int = 1800  # AutoTerminationPolicy: an idle cluster ends itself
    python_prefix: str = "/usr"  # where the cluster's python3.11 lives (the packed venv links to it)
    bootstrap_script: str | None = None  # s3:// script; None: the deployed emr/bootstrap/install-python.sh
    executor_cores: int = 4
    executor_memory: str = "9g"
    executors_per_node: int = 2  # per core/task node: 2 x (9g + 10% overhead) fits a 32 GiB node's YARN memory
    driver_cores: int = 2
    driver_memory: str = "4g"
    shuffle_partitions_per_core: int = 2  # spark.shuffle_partitions = this x all executor cores
    kms_key_id: str | None = None  # None: SSE-S3; a key ARN or id: SSE-KMS for everything written to S3
    glue_database: str = "fraud"
    # the first tx_date Athena projects; None: each table's earliest date when `publish` registers it (see
    # emr/athena.py DEFAULT_PROJECTION_START for definitions written without listing the tables)
    projection_start: dt.date | None = None
    athena_output: str | None = None  # s3:// folder for the analysts' Athena query results (no step runs Athena)
    # a SageMaker managed MLflow server the jobs may use; None: tracking.tracking_uri when that is such an ARN
    mlflow_tracking_server_arn: str | None = None
    # the real data's steps; `generate` (simulated data into paths.raw) only in the demo profile, conf/emr-demo.yaml
    steps: tuple[str, ...] = ("build_features", "train", "score", "monitor", "maintain", "publish")
    generate_overwrite: bool = False  # the generate step may replace a non-empty raw table (demo profile only)
    # the EMR security configuration `fraud emr run` creates and names in the cluster request (emr/security.py):
    # this name plus a digest of its content, so a changed configuration is a new one (they are immutable)
    security_configuration: str = "fraud-emr"
    # local disks and EBS volumes are encrypted with this KMS key (ARN or id); None: emr.kms_key_id
    local_disk_kms_key_id: str | None = None
    # in-transit TLS: an s3:// zip of PEM files (privateKey.pem, certificateChain.pem, trustedCertificates.pem)
    # or, with tls_certificate_provider_class, the jar of a custom certificate provider (docs/emr-operations.md)
    tls_certificates: str | None = None
    tls_certificate_provider_class: str | None = None
    # one IAM runtime role per step (`<instance_profile>-<step>`, ExecutionRoleArn) instead of the instance
    # profile's union of every step's grants
    runtime_roles: bool = False
    score_start_date: dt.date | None = None  # default: the last scoring.pipeline_days simulated dates
    score_end_date: dt.date | None = None
    poll_seconds: int = 30  # the step_complete waiter's delay
    max_wait_seconds: int = 21_600  # per step
    tags: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"project": "fraud-platform"})


@dataclasses.dataclass(frozen=True)
class Config:
    environment: str = "local"
    spark: SparkConf = SparkConf()
    paths: PathsConf = PathsConf()
    simulator: SimulatorConf = SimulatorConf()
    features: FeaturesConf = FeaturesConf()
    validation: ValidationConf = ValidationConf()
    ingest: IngestConf = IngestConf()
    model: ModelConf = ModelConf()
    protocol: ProtocolConf = ProtocolConf()
    tracking: TrackingConf = TrackingConf()
    scoring: ScoringConf = ScoringConf()
    anomaly: AnomalyConf = AnomalyConf()
    monitoring: MonitoringConf = MonitoringConf()
    retrain: RetrainConf = RetrainConf()
    schedule: ScheduleConf = ScheduleConf()
    catalog: CatalogConf = CatalogConf()
    aws: AwsConf = AwsConf()
    emr: EmrConf = EmrConf()

    def __post_init__(self):
        if self.environment == "emr":
            _check_cluster_tracking(self.tracking)


def _check_cluster_tracking(tracking: TrackingConf) -> None:
    """A cluster's tracking URI: TLS, and no credential in it (the config file is uploaded beside the code)."""
    from conf.redact import has_credentials

    uri = tracking.tracking_uri
    if has_credentials(uri):
        raise ConfigError("tracking.tracking_uri: credentials in the URI would be uploaded with the config and shown "
                          "in logs; give them in tracking.credentials_secret or MLFLOW_TRACKING_USERNAME/_PASSWORD")
    if uri.startswith("http://") and not tracking.allow_insecure_http:
        raise ConfigError(f"tracking.tracking_uri: {uri} is plain http (no TLS) on a cluster; use https:// or a "
                          "SageMaker MLflow tracking server ARN, or set tracking.allow_insecure_http: true")
    if not (uri.startswith(("https://", "http://")) or MLFLOW_SERVER_ARN.fullmatch(uri)):
        raise ConfigError(f"tracking.tracking_uri: {uri!r} is not an https:// server or a SageMaker MLflow tracking "
                          "server ARN (arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME)")


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read `path` (default: the packaged local config), apply `section.key=value` overrides, validate. A file
    whose top level has `base: ENVIRONMENT` holds only what differs from that packaged environment's file."""
    source = _source(path)
    raw = _read(source)
    base = raw.pop("base", None)
    if base is not None:
        if base not in ENVIRONMENTS or _source(base) == source:
            raise ConfigError(f"config file {source}: base must be another of {', '.join(ENVIRONMENTS)}, got {base!r}")
        raw = _merged(_read(_source(base)), raw)
    for item in overrides:
        _apply_override(raw, item)
    return _build(Config, raw, where=str(source))


def _source(path: str | Path | None) -> Path:
    return CONF_DIR / f"{path or 'local'}.yaml" if path is None or str(path) in ENVIRONMENTS else Path(path)


def _read(source: Path) -> dict:
    try:
        try:
            text = source.read_text()
        except (FileNotFoundError, NotADirectoryError):
            if source.parent != CONF_DIR:
                raise
            # a packaged environment read from the --py-files zip a cluster runs (zipimport, not a folder)
            text = pkgutil.get_data(__name__, source.name).decode("utf-8")
        raw = yaml.safe_load(text) or {}
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise ConfigError(f"config file {source} does not exist") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"config file {source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {source}: the top level must be a mapping of sections")
    return raw


def _merged(base: dict, top: dict) -> dict:
    """`top` over `base`, section by section (a mapping merges, any other value replaces)."""
    merged = dict(base)
    for key, value in top.items():
        merged[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _apply_override(tree: dict, item: str) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r}: expected section.key=value")
    *parents, leaf = key.strip().split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    try:
        node[leaf] = yaml.safe_load(value)
    except (yaml.YAMLError, ValueError):  # e.g. an impossible date: left as text for the type check to name
        node[leaf] = value


def _build(cls: type, values: Mapping[str, Any], where: str, prefix: str = "") -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'} must be a mapping")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(known))})")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value or {}, where, prefix=f"{key}.")
        else:
            kwargs[name] = _coerce(hint, value, where, key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str, key: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if value is None and type(None) in args:
        return None
    if type(None) in args:
        hint = next(a for a in args if a is not type(None))
        origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key} must be a list, got {value!r}")
        return tuple(_coerce(args[0], v, where, key) for v in value)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{where}", f"{key}.{k}") for k, v in value.items()}
    if hint is Any:
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"{where}: {key} must be a number, a string or true/false, got {value!r}")
        return value
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # e.g. a Spark setting written as a bare number
    if hint is dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(f"{where}: {key} must be a date YYYY-MM-DD, got {value!r}") from exc
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} must be of type {hint.__name__}, got {value!r}")
    return value
