"""Hygiene: `snakemake --lint`, `snakefmt --check` and ruff are clean."""

import subprocess
import sys

import pytest

from conftest import REPO

CHECKS = {
    "snakemake lint": ["snakemake", "--lint"],
    "snakefmt": ["snakefmt", "--check", "Snakefile", "workflow"],
    "ruff check": ["ruff", "check", "src", "tests", "benchmarks"],
    "ruff format": ["ruff", "format", "--check", "src", "tests", "benchmarks"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_tool_reports_nothing(name, cli_env):
    run = subprocess.run(
        [sys.executable, "-m", *CHECKS[name]],
        cwd=REPO,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
