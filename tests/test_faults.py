"""Fault suite, state and configuration: damaged training state is set aside, unworkable
configuration is refused naming the key, a write the system refuses is one line naming the
path, an interrupted write leaves nothing that looks complete, and two Snakemake runs never
share a results directory. (Corpus and audio faults: test_faults_corpus.py; model files and
`ptapt predict`: test_faults_models.py.)"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ptapt.atomic import write_tsv
from ptapt.config import stage_config
from ptapt.data.manifest import Utterance, write_manifest
from ptapt.errors import PtaptError
from ptapt.models.backbone import BackboneSpec, load_for_pretraining
from ptapt.training.checkpoint import ResumeCheckpoint
from ptapt.training.fit import run_fingerprint
from ptapt.training.selection import BestWeights
from test_workflow import snakemake, snakemake_command, write_config


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
    write_config(tmp_path)
    bare = {**cli_env, "PATH": "/usr/bin:/bin"}
    run = snakemake(tmp_path, bare, "results/mini/folds/fold1.json")
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "results/mini/manifest.tsv").exists()


def test_best_weights_of_another_configuration_are_never_restored(tmp_path):
    """Before: a crash with one config and a rerun with another restored the stale best.pt
    (stage 4 tested UA 18.8 instead of 31.3)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    cfg = stage_config("finetune")
    first = run_fingerprint(model, cfg, 10, 0, ["ids"], "vft")
    BestWeights(model, tmp_path, first).record(3, 0.9)
    rerun = run_fingerprint(model, stage_config("finetune", lr=1e-3), 10, 0, ["ids"], "vft")
    assert rerun != first
    best = BestWeights(torch.nn.Linear(2, 2), tmp_path, rerun)
    assert best.best is None and best.restore() is None and best.history == {}
    assert BestWeights(model, tmp_path, first).best == 3  # the same run still resumes it


def test_an_interrupted_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    """A manifest (or any table) cut short by Ctrl-C or an error mid-write."""

    def rows():
        yield ["u1", "neu"]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_tsv(tmp_path / "manifest.tsv", ["utt_id", "label"], rows())
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def unwritable(tmp_path):
    """A directory nobody may create files in: chmod for users, the immutable attribute for
    root (who ignores permissions)."""
    path = tmp_path / "locked"
    path.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("this filesystem cannot make a directory unwritable for root")
    else:
        path.chmod(0o555)
    yield path
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o755)


def _ptapt(env, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ptapt", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_an_unwritable_output_directory_is_one_line(unwritable, cli_env, tmp_path):
    """Before: a PermissionError traceback from tempfile."""
    rows = [
        Utterance(f"u{k}", f"u{k}.wav", "neu", f"s{k}", k % 2, 1.0, 16000, 16000) for k in range(4)
    ]
    write_manifest(rows, tmp_path / "manifest.tsv")
    run = _ptapt(cli_env, "folds", "--manifest", tmp_path / "manifest.tsv", "--out-dir", unwritable)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        f"ptapt folds: error: {unwritable / 'fold1.json'}: cannot write (Operation not permitted)"
        if os.geteuid() == 0
        else f"ptapt folds: error: {unwritable / 'fold1.json'}: cannot write (Permission denied)"
    )
    assert list(unwritable.iterdir()) == []


def test_a_full_disk_while_saving_a_backbone_is_one_line(tmp_path, cli_env):
    """RLIMIT_FSIZE makes writes past 60 kB fail as a full disk would (EFBIG instead of
    ENOSPC); before: a SafetensorError traceback. Nothing half-written is left in place."""
    audio = tmp_path / "audio"
    audio.mkdir()
    for k in range(2):
        sf.write(audio / f"a{k}.wav", np.random.default_rng(k).normal(0, 0.1, 24000), 16000)
    limit = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000)); "
        "from ptapt.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    out = tmp_path / "backbone"
    args = ["stage3", "--method", "tapt", "--audio-dir", audio, "--out-dir", out]
    args += ["--work-dir", tmp_path / "work", "--backbone", json.dumps({"preset": "tiny-wav2vec2"})]
    args += ["--config", json.dumps({"steps": 2, "batch_seconds": 3, "device": "cpu"})]
    run = subprocess.run(
        [sys.executable, "-c", limit, *map(str, args)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ptapt stage3: error: {out}: cannot write (") and "too large" in last
    assert not (out / "model.safetensors").exists() and not (out / "metrics.json").exists()


def test_a_second_snakemake_run_on_the_same_results_is_refused(tmp_path, cli_env):
    """Snakemake's directory lock: the second run stops at once, the first finishes
    untouched."""
    write_config(tmp_path)
    target = "results/mini/folds/fold1.json"
    first = subprocess.Popen(
        [*snakemake_command(tmp_path), target],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    locks = tmp_path / ".snakemake" / "locks"
    deadline = time.monotonic() + 120
    while not (locks.is_dir() and any(locks.iterdir())) and first.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before its lock was seen"
    second = snakemake(tmp_path, cli_env, target)
    # refused by the directory lock, or, if it looks first, by the first run's incomplete files
    refusals = ("LockException", "--rerun-incomplete")
    assert second.returncode != 0 and any(r in second.stderr for r in refusals)
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    assert (tmp_path / target).exists()


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        (None, "no such recipe file"),
        ('{"preset": "small-wav2vec2"}', "give exactly the keys 'preset', 'pretraining', 'units'"),
        (
            '{"preset": "small-wav2vec2", "pretraining": {"steps": 0}, "units": {}}',
            "config tapt.steps",
        ),
        ('{"preset": "small-wav2vec2", "pretraining": {}, "units": {"k": 1}}', "config units.k"),
    ],
)
def test_a_bad_backbone_recipe_is_one_line_naming_it(recipe, message, tmp_path, cli_env):
    path = tmp_path / "recipe.json"
    if recipe is not None:
        path.write_text(recipe)
    args = ["--recipe", str(path), "--audio-dir", str(tmp_path), "--out-dir", str(tmp_path / "o")]
    run = subprocess.run(
        [sys.executable, "-m", "ptapt", "pretrain-backbone", *args, "--work-dir", str(tmp_path)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    last = run.stderr.strip().splitlines()[-1]
    assert message in last and last.startswith("ptapt pretrain-backbone: error:")


def test_the_demo_backbone_recipe_loads_and_its_architecture_fits_20_mb():
    root = Path(__file__).resolve().parents[1]
    recipe = json.loads((root / "backbones/demo-wav2vec2.recipe.json").read_text())
    stage_config("tapt", recipe["pretraining"])  # every key valid
    stage_config("units", recipe["units"])
    model = load_for_pretraining(BackboneSpec(preset=recipe["preset"]))
    assert 4 * sum(p.numel() for p in model.parameters()) < 20e6
