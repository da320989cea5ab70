"""Fault suite, corpus and audio: damaged corpora give counted, logged skips at the manifest; a
stage that meets bad audio anyway (a corpus changed after its manifest, a hand-edited manifest)
stops with one line naming the file; nothing non-finite is ever scored."""

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import LABELS, parse_iemocap
from ptapt.cli import main
from ptapt.config import stage_config
from ptapt.data.audio import MIN_SECONDS, SAMPLE_RATE, load_rows
from ptapt.data.folds import split_share
from ptapt.data.manifest import read_manifest, write_manifest
from ptapt.data.predictions import write_predictions
from ptapt.errors import PtaptError
from ptapt.models.backbone import PRESETS, conv_layout
from ptapt.models.frame_classifier import ALIGNER, alignment_padding
from ptapt.models.frames import num_frames
from ptapt.models.wav2vec1 import LARGE
from ptapt.stages import stage2
from test_manifest import LEGEND, evaluation, header, wav

DIALOG = "Ses01F_impro01"


def _kept_ids(root, caplog):
    caplog.set_level(logging.WARNING)
    return {r.utt_id for r in parse_iemocap(root)}


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def root(tmp_path):
    """Session 1 with two good utterances; tests add the damage."""
    root = tmp_path / "IEMOCAP_full_release"
    for turn in ("F000", "M000"):
        wav(root, 1, DIALOG, f"{DIALOG}_{turn}")
    return root


def _labels(root, *lines: str) -> None:
    good = header(f"{DIALOG}_F000", "neu") + header(f"{DIALOG}_M000", "ang")
    evaluation(root, 1, f"{DIALOG}.txt", LEGEND + good + "".join(lines))


@pytest.mark.parametrize(
    "line,problem",
    [
        (f"[3.0 - 4.0] {DIALOG}_F001 sad [2.5, 2.5, 2.5]\n", "malformed header line"),
        (f"[3.0 - ]\t{DIALOG}_F001\tsad\t[2.5, 2.5, 2.5]\n", "malformed header line"),
        (f"[4.0 - 3.0]\t{DIALOG}_F001\tsad\t[2.5, 2.5, 2.5]\n", "malformed header line"),
        (f"[3.0 - 4.0]\t{DIALOG}_F001\tsadd\t[2.5, 2.5, 2.5]\n", "unknown category 'sadd'"),
    ],
)
def test_damaged_evaluation_lines_are_counted_and_named(root, caplog, line, problem):
    """Missing tab, bad time span, reversed span, unknown label: the line is skipped with a
    warning naming the file and line (before: dropped without a word)."""
    _labels(root, line)
    wav(root, 1, DIALOG, f"{DIALOG}_F001")
    assert _kept_ids(root, caplog) == {f"{DIALOG}_F000", f"{DIALOG}_M000"}
    (warning,) = _warnings(caplog)
    assert warning.startswith("skipped 1 damaged EmoEvaluation header line(s)")
    assert f"{DIALOG}.txt:" in warning and problem in warning


def test_a_session_without_evaluations_is_named(root, caplog):
    _labels(root)
    wav(root, 2, "Ses02F_impro01", "Ses02F_impro01_F000")  # wavs, but no dialog/EmoEvaluation
    assert _kept_ids(root, caplog) == {f"{DIALOG}_F000", f"{DIALOG}_M000"}
    (warning,) = _warnings(caplog)
    assert "Session2: no dialog/EmoEvaluation folder" in warning


def _write_damaged(path, kind: str) -> None:
    if kind == "truncated":  # a copy cut off mid-data: the header still declares 8000 samples
        sf.write(path, np.zeros(8000, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:-3000])
    elif kind == "empty":  # a header and no samples
        sf.write(path, np.zeros(0, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    elif kind == "non-finite":
        sf.write(path, np.full(8000, np.nan, dtype=np.float32), SAMPLE_RATE, subtype="FLOAT")
    elif kind == "too short":  # 12.5 ms
        sf.write(path, np.zeros(200, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    elif kind == "unreadable":
        path.write_text("not audio\n")


KINDS = ["truncated", "empty", "non-finite", "too short", "unreadable"]


@pytest.mark.parametrize("kind", KINDS)
def test_unusable_audio_is_a_counted_skip_at_the_manifest(root, caplog, kind):
    _labels(root, header(f"{DIALOG}_F001", "sad"), header(f"{DIALOG}_M001", "hap"))
    for turn in ("F001", "M001"):
        path = root / f"Session1/sentences/wav/{DIALOG}/{DIALOG}_{turn}.wav"
        _write_damaged(path, kind)
    assert _kept_ids(root, caplog) == {f"{DIALOG}_F000", f"{DIALOG}_M000"}
    (warning,) = _warnings(caplog)
    assert warning.startswith(f"skipped 2 {kind} audio file(s), e.g. ")
    assert f"{DIALOG}_F001.wav" in warning


def test_min_clip_gives_frames_to_every_model():
    """MIN_SECONDS is long enough for wav2vec_large's encoder plus the stride-2 aligner and for
    wav2vec 2.0's feature encoder (the presets share the base model's layout)."""
    target = conv_layout(PRESETS["tiny-wav2vec2"])
    left, right = alignment_padding(LARGE.encoder_layout, target)
    samples = int(MIN_SECONDS * SAMPLE_RATE)
    assert num_frames(left + samples + right, [*LARGE.encoder_layout, ALIGNER]) >= 2
    assert num_frames(samples, target) >= 2


@pytest.fixture
def manifest_rows(root, tmp_path):
    _labels(root)
    rows = parse_iemocap(root)
    write_manifest(rows, tmp_path / "manifest.tsv")
    return read_manifest(tmp_path / "manifest.tsv")


@pytest.mark.parametrize(
    "change,message",
    [
        ("longer", "holds 12000 samples at 16000 Hz, the manifest says 8000 at 16000 Hz"),
        ("nan", "holds NaN or infinite samples"),
        ("short", "12.5 ms long; clips shorter than 100 ms are not used"),
    ],
)
def test_audio_that_changed_after_the_manifest_stops_the_stage(manifest_rows, change, message):
    path = manifest_rows[0].path
    if change == "longer":
        sf.write(path, np.zeros(12000, dtype=np.int16), SAMPLE_RATE, subtype="PCM_16")
    else:
        _write_damaged(Path(path), {"nan": "non-finite", "short": "too short"}[change])
    with pytest.raises(PtaptError, match=rf"{path}: .*{message}"):
        load_rows(manifest_rows)


def test_stage2_names_a_training_file_that_turned_to_nan(stage12, fold, tmp_path):
    """Before: `Input contains NaN` from inside k-means."""
    work, _, _ = fold
    rows = read_manifest(work / "manifest.tsv")
    train = set(fold[1].train)
    victim = next(r for r in rows if r.utt_id in train)
    bad = tmp_path / "bad.wav"
    sf.write(bad, np.full(victim.num_samples, np.nan, np.float32), victim.sample_rate, "FLOAT")
    write_manifest(
        [replace(r, path=str(bad)) if r is victim else r for r in rows],
        tmp_path / "manifest.tsv",
    )
    with pytest.raises(PtaptError, match=rf"{bad}: holds NaN"):
        stage2.run(
            str(tmp_path / "manifest.tsv"),
            str(work / "fold1.json"),
            str(work / "stage1"),
            stage_config("stage2", ks=[8], device="cpu"),
            str(tmp_path / "stage2"),
        )
    assert not (tmp_path / "stage2" / "pseudo_labels.npz").exists()


def test_non_finite_probabilities_are_never_scored(manifest_rows, tmp_path):
    """Before: a NaN row was written as a prediction of the first class and counted."""
    probabilities = np.full((len(manifest_rows), len(LABELS)), 0.25)
    probabilities[1] = np.nan
    with pytest.raises(PtaptError, match="non-finite probabilities for 1 utterance"):
        write_predictions(tmp_path / "predictions.tsv", manifest_rows, probabilities, LABELS)
    assert not (tmp_path / "predictions.tsv").exists()


def test_a_validation_share_too_small_for_every_class_names_the_key(manifest_rows):
    """Before: scikit-learn's `test_size ... should be greater or equal to the number of
    classes` traceback (valid_share 0.02 on a small fold)."""
    rows = [replace(manifest_rows[0], utt_id=f"u{i}", label=LABELS[i % 4]) for i in range(40)]
    with pytest.raises(PtaptError, match=r"config split.valid_share: 0.02 holds out 1 of 40"):
        split_share(rows, 0.02, seed=0)
    train, valid = split_share(rows, 0.1, seed=0)
    assert {r.label for r in rows if r.utt_id in valid} == set(LABELS)


def test_manifest_command_keeps_going_past_damaged_files(root, tmp_path, capsys):
    _labels(root, header(f"{DIALOG}_F001", "sad"))
    _write_damaged(root / f"Session1/sentences/wav/{DIALOG}/{DIALOG}_F001.wav", "truncated")
    out = tmp_path / "manifest.tsv"
    args = ["manifest", "--corpus", "iemocap", "--root", str(root), "--out", str(out)]
    assert main([*args, "--no-expect-counts", "--labels", "neu,ang"]) == 0
    assert [r.utt_id for r in read_manifest(out)] == [f"{DIALOG}_F000", f"{DIALOG}_M000"]
