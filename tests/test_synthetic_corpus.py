"""The synthetic IEMOCAP-layout corpus: deterministic, real layout, learnable but not trivial."""

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

from conftest import parse_iemocap
from ptapt.data.audio import load_audio
from ptapt.data.speech_synth import (
    SAMPLE_RATE,
    Reading,
    _phrase_contour,
    _syllable_plan,
    read_text,
)
from ptapt.data.synthetic_corpus import _plan_read_speech, write_corpus
from ptapt.errors import PtaptError
from ptapt.metrics import unweighted_accuracy


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(demo_corpus, tmp_path):
    again = write_corpus(tmp_path / "again", "demo", seed=0, jobs=1)  # other worker count too
    assert digest(again) == digest(demo_corpus)


def test_other_seed_gives_other_audio(tiny_corpus, tmp_path):
    other = write_corpus(tmp_path / "other", "tiny", seed=1, jobs=1)
    a, b = digest(tiny_corpus), digest(other)
    assert a.keys() & b.keys()
    shared = [k for k in a.keys() & b.keys() if k.endswith(".wav") and "/._" not in k]
    assert shared and all(a[k] != b[k] for k in shared)


def test_existing_output_is_refused(tiny_corpus):
    with pytest.raises(PtaptError, match="already exists"):
        write_corpus(tiny_corpus, "tiny")


def test_demo_layout_and_size(demo_corpus):
    rows = parse_iemocap(demo_corpus)
    per_speaker = Counter(r.speaker for r in rows)
    assert sorted(per_speaker) == [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]
    assert min(per_speaker.values()) >= 40
    wavs = [p for p in demo_corpus.rglob("*.wav") if not p.name.startswith("._")]
    infos = [sf.info(str(p)) for p in wavs]
    assert {(i.samplerate, i.channels, i.subtype) for i in infos} == {(16000, 1, "PCM_16")}
    minutes = sum(i.frames for i in infos) / 16000 / 60
    assert 10 <= minutes <= 20
    durations = np.array([r.duration_s for r in rows])
    assert 1.5 <= np.median(durations) <= 3.5
    assert (durations >= 10).sum() >= 1 and (durations < 0.5).sum() >= 1
    assert len(wavs) > len(rows)  # utterances labelled outside the four classes exist


def test_demo_evaluation_files_have_the_release_quirks(demo_corpus):
    eval_files = list(demo_corpus.glob("Session*/dialog/EmoEvaluation/*.txt"))
    text = "".join(p.read_text() for p in eval_files if not p.name.startswith("._"))
    labels = Counter(line.split("\t")[2] for line in text.splitlines() if line.startswith("["))
    assert {"fru", "xxx", "sur", "exc"} <= set(labels)
    assert text.startswith("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]")
    names = {p.stem for p in eval_files}
    assert {"Ses03M_impro05b", "Ses05M_script01_1b"} <= names
    assert any(b"\r\n" in p.read_bytes() for p in eval_files)
    assert any(p.name.startswith("._") for p in eval_files)
    for sub in ("Categorical", "Attribute", "Self-evaluation"):
        assert list(demo_corpus.glob(f"Session1/dialog/EmoEvaluation/{sub}/*.txt"))


def log_mel_stats(path: str) -> np.ndarray:
    mel = mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=40,
        min_frequency=20,
        max_frequency=8000,
        sampling_rate=16000,
    )
    spec = spectrogram(
        load_audio(path),
        window_function(400, "hann"),
        frame_length=400,
        hop_length=160,
        power=2.0,
        mel_filters=mel,
        log_mel="log10",
    )
    return np.concatenate([spec.mean(axis=1), spec.std(axis=1)])


def test_demo_task_is_learnable_but_not_trivial(demo_corpus):
    """Linear model on log-mel mean and std, leave one session out: UA between 55 and 95 %."""
    rows = parse_iemocap(demo_corpus)
    x = np.stack([log_mel_stats(r.path) for r in rows])
    y = np.array([r.label for r in rows])
    session = np.array([r.group for r in rows])
    truth, pred = [], []
    for s in sorted(set(session)):
        model = make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced")
        )
        model.fit(x[session != s], y[session != s])
        truth += list(y[session == s])
        pred += list(model.predict(x[session == s]))
    ua = unweighted_accuracy(truth, pred)
    assert 0.55 <= ua <= 0.95, ua


def test_generic_preset_is_read_speech_of_other_voices(tmp_path):
    root = write_corpus(tmp_path / "generic", "generic", seed=0, jobs=2)
    speakers = sorted(p.name for p in root.iterdir() if p.is_dir())
    assert speakers == [f"spk{k:02d}" for k in range(1, 9)]
    wavs = list(root.rglob("*.wav"))
    assert len(wavs) == 160
    assert not list(root.rglob("EmoEvaluation"))


def test_read_speech_preset_has_many_voices_rooms_and_hours():
    """The demo backbone's pretraining corpus (planned, not rendered: 5 hours): 50 or more
    voices, several recording setups, hours of sentences, no emotion label."""
    specs = _plan_read_speech(seed=0)
    speakers = {s.path.split("/")[0] for s in specs}
    assert len(speakers) >= 50
    assert len({s.voice for s in specs}) == len(speakers)
    assert len({s.channel for s in specs}) >= 6
    assert {s.channel.reverb_s > 0 for s in specs} == {True, False}
    assert sum(s.n_samples for s in specs) / SAMPLE_RATE / 3600 >= 4.0
    assert {s.label for s in specs} == {"reading"}


def test_read_sentences_fall_or_rise_at_the_end_and_reset_at_each_phrase():
    rng = np.random.default_rng(0)
    n = 6 * SAMPLE_RATE
    plan = _syllable_plan(n, 5.0, rng)
    ends = [start + length for start, length, *_, boundary in plan if boundary]
    assert len(ends) >= 3
    question = _phrase_contour(n, plan, Reading(5.0, 2.0, 0.0, 0.0), rng)
    statement = _phrase_contour(n, plan, Reading(-4.0, 2.0, 0.0, 0.0), rng)
    assert question[-1] > 2.0 and statement[-1] < -5.0
    assert all(question[end] == 0.0 for end in ends[:-1])  # declination reset


def test_reading_changes_its_rate_across_the_sentence():
    n = 8 * SAMPLE_RATE
    plan = _syllable_plan(n, 5.0, np.random.default_rng(1), rate_drift=0.6)
    starts, lengths = np.array([(start, length) for start, length, *_ in plan]).T
    first, second = lengths[starts < n / 2].mean(), lengths[starts >= n / 2].mean()
    assert first > 1.25 * second  # syllables shorten as the rate rises


def test_read_text_is_words_of_a_lexicon_so_syllable_sequences_recur():
    """Read speech has words: its syllable trigrams recur far more often than those of the
    same syllables in random order (independent syllables, as the emotional corpora have)."""
    rng = np.random.default_rng(0)
    text = read_text(rng, 20000)
    shuffled = [text[i] for i in rng.permutation(len(text))]

    def distinct_trigrams(seq):
        return len(set(zip(seq, seq[1:], seq[2:], strict=False)))

    assert distinct_trigrams(text) < 0.75 * distinct_trigrams(shuffled)
