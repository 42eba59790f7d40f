"""`fraud emr build`: the --py-files zip, the entry points, the packed venv, and a real spark-submit of a job that
uses only the built artifacts."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pyspark
import pytest

from emr import layout, package


def test_the_zip_holds_every_package_of_the_project_with_its_data_files(built):
    names = set(zipfile.ZipFile(built / layout.PYFILES).namelist())
    # every top-level package of the checkout but the tests and benchmarks (which setup.py does not install)
    repo_packages = {p.parent.name for p in package.ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert repo_packages == set(package.PACKAGES)
    assert {f"{p}/__init__.py" for p in package.PACKAGES} <= names
    assert {"conf/emr.yaml", "conf/local.yaml", "emr/iam/instance-profile-policy.json"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_zip_is_the_same_bytes_for_the_same_sources(built, tmp_path):
    again = package.build_pyfiles(tmp_path / "again.zip")
    assert again.read_bytes() == (built / layout.PYFILES).read_bytes()


def test_the_manifest_lists_every_built_file_with_its_hash(built):
    manifest = json.loads((built / layout.MANIFEST).read_text())
    assert set(manifest["files"]) == {layout.PYFILES, layout.BOOTSTRAP, "conf/emr.yaml",
                                      *map(package.entrypoint, package.ENTRYPOINTS)}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == digest
    assert manifest["version"] == "0123456789ab"
    assert not any(r.startswith("pyspark") for r in manifest["requirements"])  # EMR's own Spark provides it
    assert "boto3==1.44.5" in manifest["requirements"]


def test_the_version_is_the_checkouts_commit():
    head = subprocess.run(["git", "-C", str(package.ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    version = package.git_version()
    assert head.startswith(version.removesuffix("-dirty")) and len(version.removesuffix("-dirty")) == 12


def test_the_packed_venv_runs_the_clusters_python311(built):
    with tarfile.open(built / layout.ENVIRONMENT) as archive:
        links = {m.name: m.linkname for m in archive.getmembers() if m.issym()}
        config = archive.extractfile("pyvenv.cfg").read().decode()
    # ./environment/bin/python on every node resolves to the bootstrap action's /usr/bin/python3.11
    assert links["bin/python"] == "/usr/bin/python3.11"
    assert links["bin/python3"] == "python" and links["bin/python3.11"] == "python"
    assert "home = /usr/bin" in config


def _isolated_python(folder: Path) -> Path:
    """A Python that sees the installed dependencies but not this project: a bare venv whose .pth adds the dev
    venv's site-packages as a plain folder (so its editable-install hook, itself a .pth there, never runs)."""
    venv = package.new_venv(folder, with_pip=False)
    (venv / "lib" / "python3.11" / "site-packages" / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "python"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_HOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    return env


def _submit_generate(build: Path, python: Path, work: Path) -> Path:
    """The generate step's command line (emr/cluster.py) minus YARN: local master, a local folder for S3."""
    spark_home = Path(pyspark.__file__).parent
    env = {**_clean_env(), "SPARK_HOME": str(spark_home), "PYSPARK_PYTHON": str(python),
           "PYSPARK_DRIVER_PYTHON": str(python)}
    output = work / "raw"
    # on YARN, --files puts the config in the container's working folder and the step names it relatively
    shutil.copyfile(build / "conf" / "emr.yaml", work / "emr.yaml")
    command = [str(spark_home / "bin" / "spark-submit"), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
               "--py-files", str(build / layout.PYFILES), str(build / "entrypoints" / "generate.py"),
               "--config", "emr.yaml", "--output", str(output),
               "--customers", "20", "--terminals", "40", "--days", "3", "--start-date", "2018-04-01",
               "--set", "spark.shuffle_partitions=2", "--set", "spark.ui_enabled=false"]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("SUMMARY "))[8:])
    assert summary["transactions"] > 0
    dates = sorted(p.name for p in (output / "transactions").glob("tx_date=*"))
    assert dates == ["tx_date=2018-04-01", "tx_date=2018-04-02", "tx_date=2018-04-03"]
    assert (output / "_validation" / "raw_transactions.json").exists()
    return output


def test_spark_submit_runs_a_job_from_the_built_artifacts_alone(built, tmp_path):
    python = _isolated_python(tmp_path / "python")
    work = tmp_path / "work"
    work.mkdir()
    control = subprocess.run([str(python), "-c", "import jobs"], cwd=work, env=_clean_env(), capture_output=True,
                             text=True)
    assert "No module named 'jobs'" in control.stderr  # the source tree is out of reach
    _submit_generate(built, python, work)


def test_no_job_file_shadows_a_package_or_module():
    # `spark-submit jobs/X.py` (and entrypoints/X.py on EMR) puts that folder first on the path: a job named like
    # a package of the project, of the standard library or of the installed dependencies hides it
    jobs = sorted(p.stem for p in (package.ROOT / "jobs").glob("*.py") if p.stem != "__init__")
    shadowing = [name for name in jobs if importlib.util.find_spec(name) is not None]
    assert shadowing == []


def test_each_entry_point_is_built_under_its_jobs_file_name():
    assert package.entrypoint("ingest") == "entrypoints/ingest_source.py"
    assert package.entrypoint("build_features") == "entrypoints/build_features.py"


@pytest.fixture(scope="module")
def isolated_python(tmp_path_factory) -> Path:
    return _isolated_python(tmp_path_factory.mktemp("python"))


@pytest.mark.parametrize("step", sorted(package.ENTRYPOINTS))
def test_every_entry_point_starts_as_emr_submits_it(built, isolated_python, tmp_path, step):
    """spark-submit of the built main file with the project zip on --py-files, as an EMR step runs it; `--help`
    exits in argparse, before a Spark session starts, so this checks the imports of the step as submitted."""
    python = isolated_python
    spark_home = Path(pyspark.__file__).parent
    env = {**_clean_env(), "SPARK_HOME": str(spark_home), "PYSPARK_PYTHON": str(python),
           "PYSPARK_DRIVER_PYTHON": str(python)}
    command = [str(spark_home / "bin" / "spark-submit"), "--master", "local[1]", "--py-files",
               str(built / layout.PYFILES), str(built / package.entrypoint(step)), "--help"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("usage: ")


FULL_BUILD = os.environ.get("FRAUD_EMR_BUILD")


@pytest.mark.skipif(not FULL_BUILD, reason="opt-in: FRAUD_EMR_BUILD=<folder of a full `fraud emr build`> "
                                           "(building the packed venv takes minutes)")
def test_spark_submit_runs_a_job_with_the_packed_venv(tmp_path):
    """The packed venv as the nodes unpack it (./environment); its python links to /usr/bin/python3.11, which
    the bootstrap action installs on EMR (and which this machine must have for the test)."""
    build = Path(FULL_BUILD)
    environment = tmp_path / "environment"
    with tarfile.open(build / layout.ENVIRONMENT) as archive:
        archive.extractall(environment, filter="tar")
    python = environment / "bin" / "python"
    work = tmp_path / "work"
    work.mkdir()
    control = subprocess.run([str(python), "-c", "import mlflow, great_expectations, shap, boto3, jobs"], cwd=work,
                             env=_clean_env(), capture_output=True, text=True)
    assert "No module named 'jobs'" in control.stderr  # the dependencies are in it, the project is not
    _submit_generate(build, python, work)


def test_fraud_emr_build_writes_the_artifacts_and_names_the_commit(tmp_path, capsys):
    from emr import cli

    assert cli.main(["build", "--output", str(tmp_path / "emr"), "--no-env"]) == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "emr" / layout.MANIFEST).read_text())
    assert printed["version"] == manifest["version"]
    assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?", manifest["version"])  # the commit (tested above)
    assert printed["environment_built"] is False and manifest["config"] == "conf/emr.yaml"
    assert (tmp_path / "emr" / layout.PYFILES).exists()


def test_the_packed_requirements_hold_the_aws_extra_and_not_the_dev_tools(monkeypatch):
    declared = ["boto3==1.44.5", "pyspark==3.5.6", 'pytest==8.4.2; extra == "dev"',
                'parliament==1.6.4; extra == "dev"', 'sagemaker-mlflow==0.5.0; extra == "aws"']
    monkeypatch.setattr(package.importlib.metadata, "requires", lambda name: declared)
    assert package.requirements() == ["boto3==1.44.5", "sagemaker-mlflow==0.5.0"]  # EMR's Spark provides pyspark


def test_the_manifest_hashes_the_packed_environment_when_it_builds_one(tmp_path, monkeypatch):
    def fake_environment(pinned, output, python_prefix):
        output.write_bytes(b"packed venv")
        return output

    monkeypatch.setattr(package, "build_environment", fake_environment)
    manifest = package.build(tmp_path / "emr", package.ROOT / "conf" / "emr.yaml", "/usr", version="v")
    assert manifest["environment_sha256"] == hashlib.sha256(b"packed venv").hexdigest()
