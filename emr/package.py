"""Build what a cluster needs (`fraud emr build`): the project as a zip for `--py-files`, the spark-submit entry
points, the config, the bootstrap script, and a packed virtual environment of the pinned dependencies
(venv-pack), shipped with `spark.archives=...#environment` and `PYSPARK_PYTHON=./environment/bin/python`.

The zip is reproducible (sorted entries, fixed timestamps), so the same commit gives the same bytes. The packed
venv links its interpreter to `<python_prefix>/bin/python3.11`, which the bootstrap action installs on every
node of an EMR 7.x cluster; its wheels are those of this machine (CPython 3.11, x86_64 manylinux).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from emr import layout

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "fraud-platform"
PACKAGES = ("conf", "jobs", "features", "models", "emr", "expectations", "simulator", "ingest")
# the spark-submit main file of each step, by step name; built under its own file name, which is never a
# package's (spark-submit puts the main file's folder first on the path: entrypoints/ingest.py would hide `ingest`)
ENTRYPOINTS = {"generate": "jobs/generate.py", "build_features": "jobs/build_features.py",
               "train": "jobs/train.py", "score": "jobs/score.py", "monitor": "jobs/monitor.py",
               "publish": "jobs/publish.py", "ingest": "jobs/ingest_source.py", "maintain": "jobs/maintain.py",
               "daily": "jobs/daily.py", "retrain": "jobs/retrain.py"}
BOOTSTRAP_SOURCE = ROOT / "emr" / "bootstrap" / "install-python.sh"
# EMR's own Spark provides pyspark on the cluster (its python/lib zips come first on the workers' path)
PROVIDED_BY_CLUSTER = ("pyspark",)
PACKED_EXTRAS = ("aws",)  # setup.py extras the cluster runs with: the sagemaker-mlflow plugin
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(RuntimeError):
    """The artifacts cannot be built (no git checkout, venv-pack missing, pip failed)."""


def entrypoint(step: str) -> str:
    """The built main file of `step`, relative to the build folder: `entrypoints/<its job's file name>`."""
    if step not in ENTRYPOINTS:
        raise ValueError(f"unknown step {step!r} (known: {', '.join(ENTRYPOINTS)})")
    return f"{layout.ENTRYPOINTS}/{Path(ENTRYPOINTS[step]).name}"


def requirements() -> list[str]:
    """The pinned runtime requirements of the installed project and of its PACKED_EXTRAS, less what the cluster
    provides."""
    found = importlib.metadata.requires(DISTRIBUTION) or []
    runtime = []
    for requirement in found:
        spec, _, marker = requirement.partition(";")
        extra = marker.split("extra ==")[-1].strip().strip("'\"") if "extra ==" in marker else None
        if extra is None or extra in PACKED_EXTRAS:
            runtime.append(spec.strip())
    return [r for r in runtime if r.split("==")[0].strip().lower() not in PROVIDED_BY_CLUSTER]


def requirements_digest(pinned: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(pinned)).encode()).hexdigest()[:16]


def git_version(root: Path = ROOT) -> str:
    """The checkout's commit (12 hex digits), with `-dirty` when tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        changes = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                 check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{root} is not a git checkout: the S3 layout is versioned by commit") from exc
    return f"{commit}-dirty" if changes else commit


def _package_files(root: Path) -> list[tuple[Path, str]]:
    files = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.append((path, path.relative_to(root).as_posix()))
    return files


def build_pyfiles(output: Path, root: Path = ROOT) -> Path:
    """The project's packages (code and data files) as one zip for --py-files; same input, same bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in _package_files(root):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return output


def pack_environment(venv: Path, output: Path, python_prefix: str) -> Path:
    """venv-pack `venv` into `output`, its interpreter relinked to `<python_prefix>/bin/python3.11`."""
    try:
        import venv_pack
    except ImportError as exc:
        raise BuildError("venv-pack is not installed: pip install -e '.[dev]'") from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    venv_pack.pack(prefix=str(venv), output=str(output), python_prefix=python_prefix, force=True,
                   verbose=False)
    return output


def new_venv(path: Path, with_pip: bool = True) -> Path:
    """A venv of this CPython 3.11 whose interpreter link venv-pack can relink.

    venv-pack 0.2.0 rewrites the prefix `<base>/bin/python` of the link's target; a venv made by `python3.11`
    links to `<base>/bin/python3.11`, which it would turn into `<python_prefix>/bin/python3.113.11`. A venv
    made by `<base>/bin/python` links to exactly that, and becomes `<python_prefix>/bin/python3.11`.
    """
    base = Path(sys.base_prefix) / "bin" / "python"
    if not base.exists() or base.resolve() != Path(sys._base_executable).resolve():
        raise BuildError(f"{base} is not this interpreter: venv-pack needs the base Python's bin/python")
    subprocess.run([str(base), "-m", "venv", *([] if with_pip else ["--without-pip"]), str(path)], check=True)
    return path


def build_environment(pinned: list[str], output: Path, python_prefix: str) -> Path:
    """A fresh venv (this CPython 3.11) with the pinned requirements, packed. Slow: it installs everything."""
    with tempfile.TemporaryDirectory(prefix="fraud-env-") as work:
        venv = Path(work) / "venv"
        try:
            new_venv(venv)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *pinned], check=True)
        except subprocess.CalledProcessError as exc:
            raise BuildError(f"could not install the pinned requirements into a fresh venv: {exc}") from exc
        return pack_environment(venv, output, python_prefix)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(output: Path, config_file: Path, python_prefix: str, with_environment: bool = True,
          version: str | None = None, root: Path = ROOT) -> dict:
    """Build every artifact into `output` and write its manifest; returns the manifest."""
    pinned = requirements()
    output.mkdir(parents=True, exist_ok=True)
    build_pyfiles(output / layout.PYFILES, root)
    for name, source in ENTRYPOINTS.items():
        target = output / entrypoint(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / source, target)
    conf_target = output / layout.CONF / config_file.name
    conf_target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config_file, conf_target)
    (output / layout.BOOTSTRAP).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(BOOTSTRAP_SOURCE, output / layout.BOOTSTRAP)
    if with_environment:
        build_environment(pinned, output / layout.ENVIRONMENT, python_prefix)
    files = sorted(p.relative_to(output).as_posix() for p in output.rglob("*")
                   if p.is_file() and p.name not in (layout.MANIFEST, layout.ENVIRONMENT))
    manifest = {
        "version": version or git_version(root),
        "config": f"{layout.CONF}/{config_file.name}",
        "requirements": pinned,
        "env_digest": requirements_digest(pinned),
        "environment_built": (output / layout.ENVIRONMENT).exists(),
        "environment_sha256": sha256(output / layout.ENVIRONMENT) if with_environment else None,
        "python_prefix": python_prefix,
        "files": {name: sha256(output / name) for name in files},
    }
    (output / layout.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _safe_name(name: object) -> bool:
    """A manifest entry names a file inside the build folder: relative, POSIX, no `..`, no empty part."""
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def verify(build_dir: Path, manifest: dict) -> list[str]:
    """What differs between the build folder and its manifest: a name outside the folder, a missing file, a
    file whose sha256 is not the manifest's (changed after the build). [] when every file is as built."""
    problems = []
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return ["the manifest lists no files"]
    for name, digest in files.items():
        if not _safe_name(name):
            problems.append(f"{name!r}: not a file name inside the build folder")
        elif not (build_dir / name).is_file():
            problems.append(f"{name}: missing")
        elif sha256(build_dir / name) != digest:
            problems.append(f"{name}: sha256 differs from the manifest's")
    return problems


def read_manifest(build_dir: Path) -> dict:
    path = build_dir / layout.MANIFEST
    if not path.exists():
        raise BuildError(f"{path} does not exist: run `fraud emr build --output {build_dir}` first")
    return json.loads(path.read_text())
