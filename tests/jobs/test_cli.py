"""The `fraud` command: every subcommand resolves to its job, and a Spark job's start pays only for its own imports."""
import subprocess
import sys

import pytest

from jobs import cli

HEAVY = ("mlflow", "sklearn", "shap", "matplotlib")


@pytest.mark.parametrize("name", sorted(cli.JOBS))
def test_every_subcommand_resolves_to_a_main(name):
    assert callable(cli._job(name))


@pytest.mark.parametrize("name", ["generate", "build-features"])
def test_feature_and_simulator_jobs_import_no_model_libraries(name):
    # a fresh interpreter: the test session itself has imported everything already
    probe = (f"import sys; from jobs import cli; cli._job({name!r}); "
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_unknown_subcommand_prints_usage(capsys):
    assert cli.main(["nope"]) == 2
    assert "usage: fraud [-v] COMMAND" in capsys.readouterr().err


SCREEN_LINES = 24


@pytest.mark.parametrize("name", [None, *sorted(set(cli.JOBS) - {"emr"})])
def test_each_help_fits_one_screen_and_ends_with_an_example(name, capsys):
    try:
        code = cli.main(["--help"] if name is None else [name, "--help"])
    except SystemExit as done:  # argparse's own --help
        code = done.code
    printed = capsys.readouterr().out.rstrip().splitlines()
    assert code == 0 and len(printed) <= SCREEN_LINES
    assert printed[-2] == "example:" and printed[-1].startswith(f"  fraud {name or ''}".rstrip())
