"""Fault suite, model files and `ptapt predict`: a damaged, incomplete or inconsistent model
directory and unusable input audio are one line naming the file, exit 2."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import BACKBONE, LABELS
from ptapt.cli import main
from ptapt.errors import PtaptError
from ptapt.models.backbone import BackboneSpec, load_backbone
from ptapt.models.frame_classifier import load_frame_classifier
from ptapt.models.utterance_classifier import (
    ClassifierConfig,
    UtteranceClassifier,
    load_classifier,
    save_classifier,
)


@pytest.fixture
def saved_classifier(tmp_path):
    torch.manual_seed(0)
    model = UtteranceClassifier(load_backbone(BACKBONE), ClassifierConfig(LABELS))
    save_classifier(model, tmp_path / "model", {})
    return tmp_path / "model"


def _last_error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' load bar


def _predict(model_dir, wav, capsys) -> tuple[int, str]:
    code = main(["predict", "--model", str(model_dir), str(wav)])
    return code, _last_error_line(capsys)


def test_a_model_directory_without_its_head_is_one_line(saved_classifier, capsys):
    (saved_classifier / "head.safetensors").unlink()
    with pytest.raises(PtaptError, match=r"head.safetensors: missing; not a complete"):
        load_classifier(saved_classifier)
    code, line = _predict(saved_classifier, "x.wav", capsys)
    assert code == 2 and line.startswith("ptapt predict: error:")
    assert "head.safetensors: missing" in line


def test_a_damaged_classifier_json_is_one_line(saved_classifier):
    (saved_classifier / "classifier.json").write_text('{"labels": ["neu"]}')
    with pytest.raises(PtaptError, match=r"classifier.json: damaged \(KeyError: 'layer_weights'"):
        load_classifier(saved_classifier)


def test_a_damaged_head_is_one_line(saved_classifier):
    (saved_classifier / "head.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(PtaptError, match=r"head.safetensors: cannot read, damaged or truncated"):
        load_classifier(saved_classifier)


def _truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _disagree(directory) -> None:
    config = json.loads((directory / "config.json").read_text())
    config["hidden_size"] += 16
    (directory / "config.json").write_text(json.dumps(config))


def _empty(directory) -> None:
    for file in directory.iterdir():
        file.unlink()


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: _truncate(d / "model.safetensors"), "weights file damaged or truncated"),
        (_disagree, "weights do not match Wav2Vec2Model: missing [], unexpected [], mismatched"),
        (_empty, "not a model directory"),
    ],
)
def test_a_broken_backbone_directory_is_one_line(saved_classifier, capsys, damage, message):
    """Before: SafetensorError, transformers' size-mismatch RuntimeError, ValueError."""
    meta = (saved_classifier / "classifier.json").read_text()
    damage(saved_classifier)
    with pytest.raises(PtaptError, match=rf"backbone '{saved_classifier}': .*{message[:30]}"):
        load_backbone(BackboneSpec(source=str(saved_classifier)))
    (saved_classifier / "classifier.json").write_text(meta)
    code, line = _predict(saved_classifier, "x.wav", capsys)
    assert code == 2 and message[:30] in line


def test_a_truncated_stage1_model_is_one_line(stage12, tmp_path):
    work, _, _ = stage12
    copy = tmp_path / "stage1"
    copy.mkdir()
    for name in ("config.json", "model.safetensors"):
        (copy / name).write_bytes((work / "stage1" / name).read_bytes())
    _truncate(copy / "model.safetensors")
    with pytest.raises(PtaptError, match=r"model.safetensors: cannot read, damaged or truncated"):
        load_frame_classifier(copy)


@pytest.mark.parametrize(
    "samples,message",
    [
        (np.zeros(200, np.float32), "12.5 ms long; clips shorter than 100 ms are not used"),
        (np.full(8000, np.nan, np.float32), "holds NaN or infinite samples"),
    ],
)
def test_predict_refuses_unusable_audio(saved_classifier, tmp_path, capsys, samples, message):
    """Before: a kernel-size traceback (12.5 ms) and a silent row of nan (NaN audio)."""
    path = tmp_path / "clip.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    assert _predict(saved_classifier, path, capsys) == (
        2,
        f"ptapt predict: error: {path}: {message}",
    )


def test_predict_refuses_non_finite_probabilities(saved_classifier, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    head = load_file(saved_classifier / "head.safetensors")
    save_file(
        {k: torch.full_like(v, float("nan")) for k, v in head.items()},
        saved_classifier / "head.safetensors",
    )
    path = tmp_path / "clip.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    code, line = _predict(saved_classifier, path, capsys)
    assert code == 2 and line.endswith(f"non-finite probabilities for {path}; broken weights")
