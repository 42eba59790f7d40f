"""Installs the fraud-detection platform: Spark jobs, features, contracts and their console command.

Pins follow what Amazon EMR 7.x ships (Python 3.11, Spark 3.5) so that the packed environment a cluster runs
is the one the tests ran.
"""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "pyspark==3.5.6",
    # pyspark 3.5's pandas/Arrow bridge is tested against pandas 2.2 and numpy 1.x.
    "pandas==2.2.3",
    "numpy==1.26.4",
    "pyarrow==17.0.0",
    "great-expectations==1.24.1",
    "PyYAML==6.0.3",
    # tracking store, model registry and the Spark model flavour; brings matplotlib for the run's figures
    "mlflow==3.5.1",
    # mlflow 3.5's SQL store needs SQLAlchemy 2.0 (2.1 removed a pool class it imports)
    "SQLAlchemy==2.0.58",
    # reason codes: TreeSHAP reads Spark GBT models directly (the last release for numpy 1.x)
    "shap==0.49.1",
    # AWS: S3, Athena, QuickSight, SNS and EMR are reached through boto3 only
    "boto3==1.44.5",
    # the local engine for the Athena tables and saved queries (`fraud query`); also the feature-parity oracle
    "duckdb==1.4.1",
    # the local views of the Iceberg output tables: their current data files, planned from the SQLite catalog
    # (SQLAlchemy above); read with fsspec, as its pyarrow IO needs pyarrow >= 18
    "pyiceberg[sql-sqlite]==0.12.0",
    # the isolation-forest anomaly signal (models/anomaly.py) runs on the cluster's Python workers, not only in tests
    "scikit-learn==1.7.2",
    # the XGBoost learner (model.learner: xgboost; xgboost.spark's estimator, TreeSHAP of its own): the CPU-only
    # wheel (6 MB, against 300 MB with the CUDA libraries); packed into the cluster's venv like the rest
    "xgboost-cpu==3.2.0",
]

# packed into the cluster's venv too (emr/package.py PACKED_EXTRAS); locally: `pip install -e '.[aws]'`
AWS_REQUIRES = [
    # MLflow's tracking and registry for a SageMaker managed MLflow server by ARN (SigV4 with the node's role);
    # it needs only boto3 and mlflow-skinny, both already pinned above
    "sagemaker-mlflow==0.5.0",
]

DEV_REQUIRES = [
    "pytest==8.4.2",
    "chispa==0.11.1",
    # a real local AWS endpoint (moto in server mode on 127.0.0.1) for the boto3 code paths
    "moto[server]==5.2.5",
    # `fraud emr build`: packs the pinned runtime dependencies as the venv an EMR cluster runs (spark.archives)
    "venv-pack==0.2.0",
    # the tests lint every generated IAM policy with it (tests/emr/test_policies.py, emr/iam/accepted-findings.json)
    "parliament==1.6.4",
    # the SageMaker MLflow client is tested too (tests/emr/test_mlflow_access.py)
    *AWS_REQUIRES,
]


setup(
    name="fraud-platform",
    version="0.1.0",
    description="Batch card-fraud detection on Spark / Amazon EMR",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["conf", "jobs", "features", "models", "emr", "expectations", "simulator", "ingest"]),
    package_data={"conf": ["*.yaml", "mappings/*.yaml"], "emr": ["iam/*.json", "bootstrap/*.sh"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"dev": DEV_REQUIRES, "aws": AWS_REQUIRES},
    entry_points={"console_scripts": ["fraud=jobs.cli:console_main"]},
)
