"""Bad input and damaged state: each case ends in one clear line, a counted skip or a recovery,
never a traceback or a silent wrong number (issue: the fault suite; more cases to come)."""

import subprocess
import sys

import pytest
import torch

from conftest import BACKBONE, LABELS
from ptapt.cli import main
from ptapt.config import stage_config
from ptapt.errors import PtaptError
from ptapt.models.backbone import load_backbone
from ptapt.models.utterance_classifier import (
    ClassifierConfig,
    UtteranceClassifier,
    load_classifier,
    save_classifier,
)
from ptapt.training.checkpoint import ResumeCheckpoint
from ptapt.training.selection import BestWeights


@pytest.mark.parametrize("content", [b"", b"not a pickle", b"PK\x03\x04 truncated zip"])
def test_a_damaged_resume_checkpoint_is_set_aside_and_training_starts_over(tmp_path, content):
    (tmp_path / "last.pt").write_bytes(content)
    assert ResumeCheckpoint(tmp_path, "run").load() is None
    assert not (tmp_path / "last.pt").exists()
    assert (tmp_path / "last.pt.damaged").read_bytes() == content


def test_a_damaged_best_weights_file_is_set_aside(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"\x80\x02 cut short")
    best = BestWeights(torch.nn.Linear(2, 2), tmp_path, "run")
    assert best.best is None and (tmp_path / "best.pt.damaged").exists()


@pytest.fixture
def saved_classifier(tmp_path):
    torch.manual_seed(0)
    model = UtteranceClassifier(load_backbone(BACKBONE), ClassifierConfig(LABELS))
    save_classifier(model, tmp_path / "model", {})
    return tmp_path / "model"


def test_a_model_directory_without_its_head_is_one_line(saved_classifier, capsys):
    (saved_classifier / "head.safetensors").unlink()
    with pytest.raises(PtaptError, match=r"head.safetensors: missing; not a complete"):
        load_classifier(saved_classifier)
    assert main(["predict", "--model", str(saved_classifier), "x.wav"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' load bar
    assert last.startswith("ptapt predict: error:") and "head.safetensors: missing" in last


def test_a_damaged_head_is_one_line(saved_classifier):
    (saved_classifier / "head.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(PtaptError, match=r"head.safetensors: cannot read"):
        load_classifier(saved_classifier)


@pytest.mark.parametrize(
    "section,values",
    [
        ("finetune", {"lr": -1e-4}),
        ("stage1", {"checkpoint_every": 0}),
        ("tapt", {"log_every": 0}),
        ("ptapt", {"steps": 0}),
        ("finetune", {"epochs": 0}),
        ("stage2", {"ks": [1]}),
    ],
)
def test_config_values_that_cannot_work_are_rejected_naming_the_key(section, values):
    key = next(iter(values))
    with pytest.raises(PtaptError, match=rf"config {section}\.{key}"):
        stage_config(section, values)


def test_a_bad_stage_config_on_the_command_line_exits_2(tmp_path, cli_env):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ptapt",
            "stage2",
            "--manifest",
            "m.tsv",
            "--fold",
            "f.json",
            "--stage1",
            "s1",
            "--out-dir",
            str(tmp_path),
            "--config",
            '{"niter": 0}',
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert (
        run.stderr.strip().splitlines()[-1].startswith("ptapt stage2: error: config stage2.niter")
    )


def test_rules_use_the_interpreter_that_runs_snakemake(tmp_path, cli_env):
    """The venv's snakemake run without activating the venv: rules still find ptapt's
    dependencies (before, `python` was the system one: ModuleNotFoundError in the job log)."""
    from test_workflow import snakemake, write_config

    write_config(tmp_path)
    bare = {**cli_env, "PATH": "/usr/bin:/bin"}
    run = snakemake(tmp_path, bare, "results/mini/folds/fold1.json")
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "results/mini/manifest.tsv").exists()
