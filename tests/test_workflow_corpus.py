"""The corpus rules through a real Snakemake run, in a temporary working directory."""

import json
import subprocess
import sys

import yaml

from conftest import REPO

TINY = {
    "default_datasets": ["mini"],
    "datasets": {
        "mini": {
            "synthetic": {"preset": "tiny", "seed": 0},
            "expect_counts": False,
            "folds": [1, 3],
        },
        "iemocap": {"root": None},
    },
}


def snakemake(workdir, env, *args):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_corpus_rules_build_the_configured_folds(tmp_path, cli_env):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    run = snakemake(tmp_path, cli_env)
    assert run.returncode == 0, run.stderr[-3000:]
    folds = sorted(p.name for p in (tmp_path / "results/mini/folds").iterdir())
    assert folds == ["fold1.json", "fold3.json"]
    fold3 = json.loads((tmp_path / "results/mini/folds/fold3.json").read_text())
    assert fold3["test"] and all(u.startswith("Ses03") for u in fold3["test"])
    manifest = (tmp_path / "results/mini/manifest.tsv").read_text().splitlines()
    assert len(manifest) == 1 + 60 and "resources/mini/corpus/Session1" in manifest[1]
    assert "session" in (tmp_path / "logs/mini/manifest.log").read_text()
    again = snakemake(tmp_path, cli_env)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr


def test_unset_corpus_root_is_a_clear_error(tmp_path, cli_env):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    run = snakemake(tmp_path, cli_env, "-n", "results/iemocap/folds/fold1.json")
    assert run.returncode != 0
    assert "datasets.iemocap.root is not set" in run.stderr + run.stdout


def test_config_is_validated_against_the_schema(tmp_path, cli_env):
    bad = {**TINY, "datasets": {"mini": {**TINY["datasets"]["mini"], "folds": "all"}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    run = snakemake(tmp_path, cli_env, "-n")
    assert run.returncode != 0
    assert "'all' is not of type 'array'" in run.stderr + run.stdout
