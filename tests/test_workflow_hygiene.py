"""Hygiene: `snakemake --lint`, `snakefmt --check` and ruff are clean."""

import subprocess
import sys

from conftest import REPO


def test_snakemake_lint_is_clean(cli_env):
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=REPO,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_snakefmt_is_clean(cli_env):
    files = ["Snakefile", "workflow"]
    run = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *files],
        cwd=REPO,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_python_code_style_is_clean(cli_env):
    for args in (["check"], ["format", "--check"]):
        run = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "src", "tests", "benchmarks"],
            cwd=REPO,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
