import os
import sys
from pathlib import Path

import pytest

from ptapt.config import stage_config
from ptapt.corpora import CORPORA
from ptapt.data.folds import make_folds, write_fold
from ptapt.data.manifest import from_corpus, write_manifest
from ptapt.data.synthetic_corpus import write_corpus
from ptapt.models.backbone import BackboneSpec
from ptapt.stages import stage1, stage2
from ptapt.training.checkpoint import ResumeCheckpoint

REPO = Path(__file__).resolve().parents[1]
LABELS = ["neu", "hap", "ang", "sad"]
BACKBONE = BackboneSpec(preset="tiny-wav2vec2")


def parse_iemocap(root):
    return from_corpus(CORPORA["iemocap"], root)


STAGE1 = stage_config(
    "stage1",
    wav2vec1="tiny",
    freeze_encoder=False,
    lr=1e-3,
    steps=200,
    batch_size=16,
    mask_feature_length=4,  # the tiny encoder has 32 channels (wav2vec_large: 64 of 512)
    clip_grad_norm=1.0,  # a random-init encoder under SpecAugment diverges without it
    checkpoint_every=100,
    log_every=20,
    device="cpu",
)


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    """The demo preset of the synthetic IEMOCAP-layout corpus, generated once per test run."""
    return write_corpus(tmp_path_factory.mktemp("demo") / "corpus", "demo", seed=0, jobs=2)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("tiny") / "corpus", "tiny", seed=0, jobs=1)


@pytest.fixture(scope="session")
def fold(demo_corpus, tmp_path_factory):
    """Fold 1 of the demo corpus with a 15 % validation split: (dir, Fold, rows by id)."""
    work = tmp_path_factory.mktemp("fold")
    rows = parse_iemocap(demo_corpus)
    write_manifest(rows, work / "manifest.tsv")
    fold = make_folds(rows, valid_share=0.15, seed=0)[0]
    write_fold(fold, work / "fold1.json")
    return work, fold, {r.utt_id: r for r in rows}


@pytest.fixture(scope="session")
def stage12(fold):
    """Stages 1 and 2 run once on that fold: (dir, stage-1 metrics, cluster report)."""
    work, _, _ = fold
    manifest, fold_file = str(work / "manifest.tsv"), str(work / "fold1.json")
    s1 = stage1.run(
        manifest, fold_file, STAGE1, LABELS, BACKBONE, str(work / "stage1"), str(work / "ckpt1")
    )
    cfg2 = stage_config("stage2", ks=[8, 32], device="cpu")
    s2 = stage2.run(manifest, fold_file, str(work / "stage1"), cfg2, str(work / "stage2"))
    return work, s1, s2


@pytest.fixture(scope="session")
def cli_env() -> dict:
    """Environment for subprocesses: the interpreter's bin dir first, so `ptapt` resolves."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


class Killed(Exception):
    """Stands for a job killed right after it wrote a checkpoint."""


@pytest.fixture
def kill_after_checkpoint(monkeypatch):
    """arm(step): the next training run raises Killed just after saving that step's checkpoint;
    later runs save normally (so the rerun resumes)."""
    save = ResumeCheckpoint.save

    def arm(step: int) -> None:
        def save_then_die(self, state):
            save(self, state)
            if state["step"] == step:
                monkeypatch.setattr(ResumeCheckpoint, "save", save)
                raise Killed

        monkeypatch.setattr(ResumeCheckpoint, "save", save_then_die)

    return arm
