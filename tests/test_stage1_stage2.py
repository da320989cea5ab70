"""Stages 1-2 on the synthetic corpus: learning, pseudo-labels, leakage, resume."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import BACKBONE, LABELS, STAGE1, Killed
from ptapt.errors import PtaptError
from ptapt.models.backbone import PRESETS, conv_layout
from ptapt.models.frame_classifier import load_frame_classifier
from ptapt.models.frames import num_frames
from ptapt.stages import stage1


def test_stage1_learns_utterance_emotion_above_chance(stage12):
    work, metrics, _ = stage12
    assert metrics["held_out"] == "fold valid" and metrics["n_held_out"] >= 50
    assert metrics["utterance_ua"] > 0.45 and metrics["frame_ua"] > 0.45  # chance: 0.25
    assert metrics["last_loss"] < metrics["first_loss"]
    saved = json.loads((work / "stage1/metrics.json").read_text())
    assert saved["utterance_ua"] == metrics["utterance_ua"]
    curve = (work / "stage1/curve.csv").read_text().splitlines()
    assert curve[0].startswith("step,") and len(curve) == 1 + STAGE1.steps // STAGE1.log_every
    config = json.loads((work / "stage1/config.json").read_text())
    assert config["model"]["labels"] == LABELS and config["stage1"]["steps"] == STAGE1.steps
    assert not (work / "ckpt1/last.pt").exists()  # resume state is removed once done


def test_no_test_or_validation_id_reaches_training(stage12, fold):
    work, _, _ = stage12
    _, f, _ = fold
    trained = (work / "stage1/train_ids.txt").read_text().split()
    assert sorted(trained) == f.train
    clustered = np.load(work / "stage2/pseudo_labels.npz")["utt_ids"].tolist()
    assert sorted(clustered) == f.train
    assert not set(trained + clustered) & set(f.test + f.valid)


def test_pseudo_labels_schema_and_frame_counts(stage12, fold):
    work, _, _ = stage12
    _, _, by_id = fold
    npz = np.load(work / "stage2/pseudo_labels.npz")
    assert sorted(npz.files) == ["k32", "k8", "offsets", "utt_ids"]
    assert npz["utt_ids"].dtype.kind == "U" and npz["offsets"].dtype == np.int64
    offsets = npz["offsets"]
    assert len(offsets) == len(npz["utt_ids"]) + 1 and offsets[0] == 0
    layout = conv_layout(PRESETS["tiny-wav2vec2"])
    expected = [num_frames(by_id[u].num_samples, layout) for u in npz["utt_ids"]]
    assert np.diff(offsets).tolist() == expected
    for k in (8, 32):
        ids = npz[f"k{k}"]
        assert ids.dtype == np.int32 and len(ids) == offsets[-1]
        assert ids.min() >= 0 and ids.max() < k and len(np.unique(ids)) > k // 2


def test_clusters_carry_emotion(stage12):
    work, _, report = stage12
    assert report == json.loads((work / "stage2/cluster_report.json").read_text())
    for k in ("k8", "k32"):
        assert report[k]["purity"] > report[k]["prior"]
        assert report[k]["nmi"] > 2 * report[k]["nmi_shuffled"]
        assert report[k]["inertia"] > 0


def test_stage1_model_with_a_missing_weight_is_refused(stage12, tmp_path):
    work, _, _ = stage12
    weights = load_file(str(work / "stage1/model.safetensors"))
    del weights["aligner.0.bias"]
    save_file(weights, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text((work / "stage1/config.json").read_text())
    with pytest.raises(PtaptError, match=r"missing \['aligner.0.bias'\]"):
        load_frame_classifier(tmp_path)


def test_interrupted_stage1_resumes_to_the_same_weights(fold, tmp_path, kill_after_checkpoint):
    work, _, _ = fold
    cfg = replace(STAGE1, steps=40, checkpoint_every=10, log_every=10, batch_size=8)
    args = (str(work / "manifest.tsv"), str(work / "fold1.json"), cfg, LABELS, BACKBONE)
    stage1.run(*args, str(tmp_path / "straight"), str(tmp_path / "ckpt_a"))

    kill_after_checkpoint(20)
    with pytest.raises(Killed):
        stage1.run(*args, str(tmp_path / "resumed"), str(tmp_path / "ckpt_b"))
    assert (tmp_path / "ckpt_b/last.pt").exists() and not (tmp_path / "resumed").exists()
    stage1.run(*args, str(tmp_path / "resumed"), str(tmp_path / "ckpt_b"))

    a = load_file(str(tmp_path / "straight/model.safetensors"))
    b = load_file(str(tmp_path / "resumed/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("curve.csv", "metrics.json"):
        assert (tmp_path / "straight" / name).read_text() == (
            tmp_path / "resumed" / name
        ).read_text()
