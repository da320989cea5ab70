"""`ptapt predict` and `ptapt.load_classifier`: inputs of every kind, both output formats,
batching that never changes a prediction, per-frame posteriors, and bad input as one line.
(The pipeline's own models: test_workflow.py::test_predict_repeats_a_run_s_test_predictions.)"""

import io
import json

import numpy as np
import pytest
import soundfile as sf
import torch

import ptapt
from conftest import BACKBONE, LABELS
from ptapt.cli import main
from ptapt.errors import PtaptError
from ptapt.models.backbone import load_backbone
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier, save_classifier


def _save(directory, spec=BACKBONE, **config):
    torch.manual_seed(0)
    model = UtteranceClassifier(load_backbone(spec, **config), ClassifierConfig(LABELS))
    save_classifier(model, directory, {})
    return directory


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three clips of different lengths, one at 44.1 kHz stereo."""
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    (root / "sub").mkdir()
    sf.write(root / "a.wav", 0.1 * rng.standard_normal(16000), 16000)
    sf.write(root / "sub/b.wav", 0.1 * rng.standard_normal(24000), 16000)
    sf.write(root / "c.wav", 0.1 * rng.standard_normal((44100, 2)), 44100)
    return root


def _rows(capsys) -> list[list[str]]:
    return [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]


def test_a_directory_a_list_file_and_stdin_give_the_same_rows(
    model_dir, clips, capsys, monkeypatch
):
    assert main(["predict", "--model", str(model_dir), str(clips)]) == 0
    from_dir = _rows(capsys)
    assert from_dir[0] == ["path", "prediction", *(f"p_{x}" for x in LABELS)]
    assert [r[0] for r in from_dir[1:]] == [str(clips / n) for n in ("a.wav", "c.wav", "sub/b.wav")]
    (clips / "list.txt").write_text("a.wav\n# a comment\nc.wav\nsub/b.wav\n")
    assert main(["predict", "--model", str(model_dir), f"@{clips / 'list.txt'}"]) == 0
    assert _rows(capsys) == from_dir
    paths = "".join(f"{r[0]}\n" for r in from_dir[1:])
    monkeypatch.setattr("sys.stdin", io.StringIO(paths))
    assert main(["predict", "--model", str(model_dir), "-"]) == 0
    assert _rows(capsys) == from_dir
    for row in from_dir[1:]:
        probabilities = [float(x) for x in row[2:]]
        assert (
            abs(sum(probabilities) - 1) < 1e-3 and row[1] == LABELS[int(np.argmax(probabilities))]
        )


def test_json_lines_carry_every_probability(model_dir, clips, capsys):
    assert (
        main(["predict", "--model", str(model_dir), "--format", "jsonl", str(clips / "a.wav")]) == 0
    )
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["path"] == str(clips / "a.wav") and record["prediction"] in LABELS
    assert sum(record[f"p_{x}"] for x in LABELS) == pytest.approx(1, abs=1e-5)


def test_python_api_takes_paths_and_arrays_alike(model_dir, clips):
    model = ptapt.load_classifier(model_dir, device="cpu")
    wave, rate = sf.read(clips / "c.wav", dtype="float32")
    by_path, by_array = model.predict([clips / "c.wav", wave.mean(axis=1)], sample_rate=rate)
    assert by_array.source == "array 1" and model.labels == LABELS
    assert by_path.label == by_array.label
    for label in LABELS:
        assert by_path.probabilities[label] == pytest.approx(
            by_array.probabilities[label], abs=1e-6
        )


def test_batches_of_a_layer_norm_encoder_give_the_one_at_a_time_probabilities(tmp_path):
    """A group-norm encoder (the tiny preset, wav2vec2-base) is scored one at a time; a
    layer-norm one takes the attention mask, so padding in a batch changes nothing."""
    directory = _save(tmp_path / "m", feat_extract_norm="layer", do_stable_layer_norm=True)
    model = ptapt.load_classifier(directory, device="cpu")
    rng = np.random.default_rng(1)
    waves = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16000, 9000, 23000, 4000)]
    alone = model.model.probabilities(waves, batch_size=1)
    together = model.model.probabilities(waves, batch_size=4)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_frame_posteriors_of_the_stage1_model(stage12, clips, capsys):
    work, _, _ = stage12
    assert main(["predict", "--frames", str(work / "stage1"), str(clips / "a.wav")]) == 0
    rows = _rows(capsys)
    assert rows[0][:3] == ["path", "start_s", "prediction"]
    assert len(rows) - 1 == 49  # 1 s at 20 ms frames: the backbone's frame count
    assert [r[1] for r in rows[1:3]] == ["0.00", "0.02"]
    assert all(abs(sum(map(float, r[3:])) - 1) < 1e-3 for r in rows[1:])


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: d / "missing.wav", "missing.wav: no such file (1 input(s) missing)"),
        (lambda d: _write(d / "notes.wav", b"not audio"), "notes.wav: cannot read audio"),
        (lambda d: _audio(d / "empty.wav", np.zeros(0)), "empty.wav: audio file holds no samples"),
        (lambda d: d, "no audio files (.wav, .flac, .ogg)"),
    ],
)
def test_bad_input_is_one_line(model_dir, tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["predict", "--model", str(model_dir), str(path)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("ptapt predict: error: ") and message in line


def test_a_two_channel_array_is_refused(model_dir):
    with pytest.raises(PtaptError, match=r"array 0: expected mono audio \(1-D\)"):
        ptapt.load_classifier(model_dir, device="cpu").predict([np.zeros((2, 16000))])


def test_model_or_frames_must_be_chosen(capsys):
    assert main(["predict", "x.wav"]) == 2
    assert "give --model" in capsys.readouterr().err


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _audio(path, samples):
    sf.write(path, samples, 16000)
    return path
