"""Synthetic corpora written to disk, so the whole pipeline runs with nothing downloaded.

With the default layout (iemocap), `demo` and `tiny` write the exact IEMOCAP_full_release
layout: Session{1..5}/sentences/wav/
<dialog>/<utt>.wav (16 kHz mono PCM16) and Session{1..5}/dialog/EmoEvaluation/<dialog>.txt in the
release's format (legend line, blank lines, per-annotator lines), the Categorical/, Attribute/ and
Self-evaluation/ subfolders, labels outside the four classes (fru, sur, oth, xxx), exc for part
of the happy class, awkward dialog names (Ses03M_impro05b, Ses05M_script01_1b), one CRLF file and
macOS `._*` junk, so the real parser is exercised. `generic` writes neutral read speech of other
voices (<speaker>/<speaker>_<n>.wav), the stand-in for a pretraining corpus. The other layouts
(savee, ravdess, cremad, tess, emodb) write a small corpus with the corpus's own file naming,
sample rate and quirks, as planned by its module in ptapt.corpora.

Same preset and seed give byte-identical files: every utterance draws from its own generator
seeded by (seed, utterance index), whatever the worker count.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
from tqdm import tqdm

from ptapt.corpora import CORPORA
from ptapt.corpora.base import Corpus
from ptapt.data.audio import write_pcm16
from ptapt.data.speech_synth import (
    EMOTIONS,
    SAMPLE_RATE,
    Channel,
    Prosody,
    Reading,
    Voice,
    blend,
    finish,
    synthesize,
    vary,
)
from ptapt.errors import PtaptError


@dataclass(frozen=True)
class Preset:
    kept_per_speaker: tuple[int, int]  # inclusive range of four-class utterances per speaker
    other_per_speaker: tuple[int, int]  # utterances with labels the parser must drop
    median_s: float  # utterance length distribution: log-normal, plus forced outliers
    sigma: float
    n_long: int  # utterances of 10 s or more
    n_short: int  # utterances under 0.5 s


PRESETS = {
    "demo": Preset((41, 45), (3, 5), 2.0, 0.5, 3, 4),
    "tiny": Preset((6, 6), (1, 1), 1.2, 0.3, 0, 1),
}
GENERIC_SPEAKERS, GENERIC_UTTS_PER_SPEAKER = 8, 20
# The demo backbone's pretraining corpus: about 5 hours of read sentences.
READ_SPEAKERS, READ_UTTS_PER_SPEAKER, READ_SETUPS = 120, 18, 12
ALL_PRESETS = (*PRESETS, "generic", "read-speech")

# Written label -> (probability, prosody); "hap" is written as exc for part of the happy class.
KEPT = {"neu": 0.31, "hap": 0.30, "ang": 0.20, "sad": 0.19}
OTHER = {"fru": 0.45, "xxx": 0.30, "sur": 0.15, "oth": 0.10}
EXC_SHARE = 0.6
CATEGORY_NAMES = {
    "neu": "Neutral state",
    "hap": "Happiness",
    "exc": "Excited",
    "ang": "Anger",
    "sad": "Sadness",
    "fru": "Frustration",
    "sur": "Surprise",
    "oth": "Other",
}
VAD = {
    "neu": (3.0, 2.5, 2.5),
    "hap": (4.0, 3.5, 3.0),
    "exc": (4.0, 3.5, 3.0),
    "ang": (1.5, 4.0, 4.0),
    "sad": (1.5, 2.0, 2.0),
    "fru": (2.0, 3.5, 3.5),
    "sur": (3.5, 4.0, 3.0),
    "oth": (3.0, 3.0, 3.0),
    "xxx": (2.5, 3.0, 3.0),
}
LEGEND = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"
APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02"
EXTRA_DIALOGS = {3: ("Ses03M_impro05b", "Ses03M_impro08a"), 5: ("Ses05M_script01_1b",)}


@dataclass(frozen=True)
class UttSpec:
    index: int
    path: str  # relative to the corpus root
    label: str  # as written in the evaluation file
    voice: Voice
    channel: Channel
    n_samples: int  # at 16 kHz
    sample_rate: int = SAMPLE_RATE  # written at this rate
    channels: int = 1
    empty: bool = False  # a header and no samples


def write_corpus(
    out: str | os.PathLike,
    preset: str = "demo",
    seed: int = 0,
    jobs: int = 1,
    layout: str = "iemocap",
) -> Path:
    """Generate a corpus into `out` (which must not exist yet); returns the path."""
    layouts = ["iemocap", *(n for n, c in CORPORA.items() if c.synthetic)]
    if layout not in layouts:
        raise PtaptError(f"no synthetic {layout!r} layout; choose from {layouts}")
    presets = ALL_PRESETS if layout == "iemocap" else tuple(PRESETS)
    if preset not in presets:
        raise PtaptError(f"unknown preset {preset!r}; choose from {list(presets)}")
    out = Path(out)
    if out.exists():
        raise PtaptError(f"{out}: already exists; remove it or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        if layout != "iemocap":
            specs = _plan_layout(CORPORA[layout], preset, seed)
        elif preset == "generic":
            specs = _plan_generic(seed)
        elif preset == "read-speech":
            specs = _plan_read_speech(seed)
        else:
            specs, texts = _plan_iemocap(PRESETS[preset], seed)
            for rel, text in texts.items():
                _write_text(staging / rel, text)
            _add_junk(staging)
        _render_all(staging, specs, seed, jobs)
        info = {
            "generator": "ptapt synth-corpus",
            "layout": layout,
            "preset": preset,
            "seed": seed,
            "note": "synthetic speech; not a recording of any person",
        }
        _write_text(staging / "ptapt_synthetic.json", json.dumps(info, indent=2) + "\n")
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_text(path: Path, text: str) -> None:
    """Write `text` with its line endings untouched (one evaluation file is CRLF on purpose)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _voice(rng: np.random.Generator, sex: str) -> Voice:
    if sex == "F":
        return Voice(rng.uniform(185, 235), rng.uniform(1.12, 1.22), rng.uniform(0.1, 0.5))
    return Voice(rng.uniform(95, 135), rng.uniform(0.93, 1.02), rng.uniform(0.1, 0.5))


def _durations(rng: np.random.Generator, labels: list, preset: Preset) -> np.ndarray:
    """Skewed lengths (log-normal) with a few long and a few very short kept utterances."""
    dur = np.clip(rng.lognormal(np.log(preset.median_s), preset.sigma, len(labels)), 0.6, 9.0)
    kept = [i for i, (_, _, lab) in enumerate(labels) if lab in KEPT or lab == "exc"]
    picks = rng.permutation(kept)
    dur[picks[: preset.n_long]] = rng.uniform(10.0, 12.5, preset.n_long)
    dur[picks[preset.n_long : preset.n_long + preset.n_short]] = rng.uniform(
        0.3, 0.48, preset.n_short
    )
    return dur


def _plan_iemocap(preset: Preset, seed: int) -> tuple[list[UttSpec], dict[str, str]]:
    """Every utterance's label, voice and length, and the text of every evaluation file."""
    rng = np.random.default_rng([seed, 0])
    speakers = [(s, sex) for s in range(1, 6) for sex in "FM"]
    voices = {spk: _voice(rng, spk[1]) for spk in speakers}
    channel = {s: session_channel(rng, s) for s in range(1, 6)}
    labels = []  # (session, sex, written label)
    for session, sex in speakers:
        n_kept = rng.integers(preset.kept_per_speaker[0], preset.kept_per_speaker[1] + 1)
        n_other = rng.integers(preset.other_per_speaker[0], preset.other_per_speaker[1] + 1)
        kept = rng.permutation(_quota(KEPT, n_kept))
        other = rng.choice(list(OTHER), n_other, p=list(OTHER.values()))
        for lab in [*kept, *other]:
            lab = "exc" if lab == "hap" and rng.random() < EXC_SHARE else str(lab)
            labels.append((session, sex, lab))
    durations = _durations(rng, labels, preset)
    specs, texts = [], {}
    for session in range(1, 6):
        idx = [i for i, (s, _, _) in enumerate(labels) if s == session]
        dialogs = _dialog_names(session)
        order = rng.permutation(idx)
        by_dialog = {d: [int(i) for i in order[k :: len(dialogs)]] for k, d in enumerate(dialogs)}
        for dialog, members in by_dialog.items():
            if not members:
                continue
            turns = _turns(dialog, members, labels, durations, rng)
            crlf = session == 2 and dialog == dialogs[0]
            texts.update(_evaluation_files(session, dialog, turns, rng, crlf))
            for utt_id, i, _, _, label in turns:
                sex = labels[i][1]
                specs.append(
                    UttSpec(
                        index=i,
                        path=f"Session{session}/sentences/wav/{dialog}/{utt_id}.wav",
                        label=label,
                        voice=voices[(session, sex)],
                        channel=channel[session],
                        n_samples=int(round(durations[i] * SAMPLE_RATE)),
                    )
                )
    return sorted(specs, key=lambda s: s.index), texts


def _quota(shares: dict[str, float], n: int) -> list[str]:
    """`n` labels in proportion to `shares` (largest remainder): every speaker has every class."""
    exact = {lab: share * n for lab, share in shares.items()}
    counts = {lab: int(x) for lab, x in exact.items()}
    by_remainder = sorted(shares, key=lambda lab: counts[lab] - exact[lab])
    for lab in by_remainder[: n - sum(counts.values())]:
        counts[lab] += 1
    return [lab for lab, c in counts.items() for _ in range(c)]


def _dialog_names(session: int) -> list[str]:
    ses = f"Ses{session:02d}"
    base = [f"{ses}F_impro01", f"{ses}M_impro02", f"{ses}F_script01_1", f"{ses}M_script02_2"]
    return [*base, *EXTRA_DIALOGS.get(session, ())]


def _turns(dialog, members, labels, durations, rng) -> list[tuple[str, int, float, float, str]]:
    """(utt_id, index, start, end, label) in dialog order; turn numbers count per speaker."""
    counters = {"F": 0, "M": 0}
    t = rng.uniform(2.0, 8.0)
    turns = []
    for i in members:
        _, sex, label = labels[i]
        utt_id = f"{dialog}_{sex}{counters[sex]:03d}"
        counters[sex] += 1
        end = t + float(durations[i])
        turns.append((utt_id, i, t, end, label))
        t = end + rng.uniform(0.2, 2.5)
    return turns


def _evaluation_files(session, dialog, turns, rng, crlf: bool) -> dict[str, str]:
    """The dialog's EmoEvaluation file and its per-annotator subfolder files."""
    base = f"Session{session}/dialog/EmoEvaluation"
    lines = [LEGEND, ""]
    categorical = {e: [] for e in ("e1", "e2", "e3")}
    attribute = {e: [] for e in ("e1", "e2")}
    for utt_id, _, start, end, label in turns:
        v, a, d = (x + rng.normal(0, 0.3) for x in VAD[label])
        lines.append(f"[{start:.4f} - {end:.4f}]\t{utt_id}\t{label}\t[{v:.4f}, {a:.4f}, {d:.4f}]")
        for (evaluator, cats), name in zip(
            categorical.items(), _annotations(label, rng), strict=True
        ):
            cats.append(f"{utt_id} :{name}; ()")
            lines.append(f"C-{evaluator.upper()}:\t{name};\t()")
        score = f"val {round(v)}; act {round(a)}; dom  {round(d)};"
        for evaluator, attrs in attribute.items():
            attrs.append(f"{utt_id} :{score} ()")
            lines.append(f"A-{evaluator.upper()}:\t{score}\t()")
        lines.append("")
    nl = "\r\n" if crlf else "\n"
    files = {f"{base}/{dialog}.txt": nl.join(lines) + nl}
    for evaluator, cats in categorical.items():
        files[f"{base}/Categorical/{dialog}_{evaluator}_cat.txt"] = "\n".join(cats) + "\n"
    for evaluator, attrs in attribute.items():
        files[f"{base}/Attribute/{dialog}_{evaluator}_atr.txt"] = "\n".join(attrs) + "\n"
    self_lines = [f"{utt_id} :val 3; act 3; dom 3;" for utt_id, *_ in turns]
    files[f"{base}/Self-evaluation/{dialog}_self.txt"] = "\n".join(self_lines) + "\n"
    return files


def _annotations(label: str, rng: np.random.Generator) -> list[str]:
    """Three annotators' categories: they agree with the majority label, except for xxx."""
    names = list(CATEGORY_NAMES.values())
    if label == "xxx":
        return [names[k] for k in rng.choice(len(names), 3, replace=False)]
    return [
        CATEGORY_NAMES[label] if rng.random() < 0.8 else names[rng.integers(len(names))]
        for _ in range(3)
    ]


def _add_junk(root: Path) -> None:
    """macOS AppleDouble files, as found in copies of the release made on a Mac."""
    for rel in (
        "Session1/dialog/EmoEvaluation/._Ses01F_impro01.txt",
        "Session1/sentences/wav/Ses01F_impro01/._Ses01F_impro01_F000.wav",
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(APPLEDOUBLE)


def session_channel(rng: np.random.Generator, session: int) -> Channel:
    """The IEMOCAP role's recording chain: each session its own room (reverberant), microphone
    (brighter than the read-speech corpus's) and recording level, and more background noise."""
    return Channel(
        tilt=rng.uniform(0.1, 0.6),
        reverb_s=rng.uniform(0.2, 0.45),
        gain_db=rng.uniform(-6.0, 6.0),
        snr_db=(15.0, 30.0),
        room_seed=session,
    )


def _plan_generic(seed: int) -> list[UttSpec]:
    """Neutral read speech from voices that are not in the emotion corpus, each speaker close to
    a microphone of their own in a quiet, dry room (the LibriSpeech role)."""
    rng = np.random.default_rng([seed, 1])
    specs = []
    for k in range(GENERIC_SPEAKERS):
        spk = f"spk{k + 1:02d}"
        voice = _voice(rng, "F" if k % 2 else "M")
        close_mic = Channel(rng.uniform(-0.3, 0.1), 0.0, rng.uniform(-3, 3), (30.0, 45.0))
        for j in range(GENERIC_UTTS_PER_SPEAKER):
            n = int(round(np.clip(rng.lognormal(np.log(3.5), 0.4), 1.0, 12.0) * SAMPLE_RATE))
            path = f"{spk}/{spk}_{j:04d}.wav"
            specs.append(UttSpec(len(specs), path, "read", voice, close_mic, n))
    return specs


def _plan_read_speech(seed: int) -> list[UttSpec]:
    """Many voices reading sentences (the LibriSpeech role at small scale): a wider range of
    voices than the emotional corpora's, each speaker recorded in one of several setups (close
    or room microphones, dry or reverberant rooms, quiet or noisy), sentences of 2-16 s."""
    rng = np.random.default_rng([seed, 4])
    setups = [
        Channel(
            tilt=rng.uniform(-0.4, 0.7),
            reverb_s=0.0 if k % 3 == 0 else rng.uniform(0.1, 0.6),
            gain_db=rng.uniform(-8.0, 8.0),
            snr_db=(lowest := rng.uniform(10.0, 30.0), lowest + 15.0),
            room_seed=100 + k,
        )
        for k in range(READ_SETUPS)
    ]
    specs = []
    for k in range(READ_SPEAKERS):
        spk = f"reader{k + 1:03d}"
        if k % 2:
            voice = Voice(rng.uniform(160, 260), rng.uniform(1.08, 1.26), rng.uniform(0.05, 0.6))
        else:
            voice = Voice(rng.uniform(85, 150), rng.uniform(0.90, 1.06), rng.uniform(0.05, 0.6))
        setup = setups[rng.integers(READ_SETUPS)]
        for j in range(READ_UTTS_PER_SPEAKER):
            n = int(round(np.clip(rng.lognormal(np.log(7.5), 0.4), 2.0, 16.0) * SAMPLE_RATE))
            path = f"{spk}/{spk}_{j:04d}.wav"
            specs.append(UttSpec(len(specs), path, "reading", voice, setup, n))
    return specs


def _plan_layout(corpus: Corpus, preset: str, seed: int) -> list[UttSpec]:
    """The corpus module's files, each speaker a voice of their own in one studio."""
    rng = np.random.default_rng([seed, 3])
    studio = Channel(rng.uniform(-0.2, 0.2), rng.uniform(0.0, 0.15), 0.0, (30.0, 40.0))
    voices: dict[str, Voice] = {}
    median_s = {"tiny": 1.2, "demo": 2.5}[preset]
    specs = []
    for file in corpus.synthetic(preset):
        if file.speaker not in voices:
            voices[file.speaker] = _voice(rng, file.sex)
        seconds = np.clip(rng.lognormal(np.log(median_s), 0.25), 0.6, 6.0)
        specs.append(
            UttSpec(
                len(specs),
                file.path,
                file.label,
                voices[file.speaker],
                studio,
                int(round(seconds * SAMPLE_RATE)),
                corpus.sample_rate,
                corpus.synthetic_channels,
                file.empty,
            )
        )
    return specs


def _render_all(root: Path, specs: list[UttSpec], seed: int, jobs: int) -> None:
    work = [(root, spec, seed) for spec in specs]
    with tqdm(total=len(work), desc="synthesizing", unit="utt") as bar:
        if jobs <= 1:
            for item in work:
                _render(item)
                bar.update()
            return
        with ProcessPoolExecutor(jobs) as pool:
            for _ in pool.map(_render, work, chunksize=8):
                bar.update()


def _render(item: tuple[Path, UttSpec, int]) -> None:
    root, spec, seed = item
    path = root / spec.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.empty:
        write_pcm16(path, np.zeros(0, np.float32), spec.sample_rate)
        return
    rng = np.random.default_rng([seed, 2, spec.index])
    if spec.label == "reading":
        prosody, reading = reading_delivery(rng)
    else:
        prosody, reading = _prosody(spec.label, rng), None
    speech = synthesize(spec.voice, prosody, spec.n_samples, rng, reading)
    wav = finish(speech, prosody.level_db + rng.normal(0, 2.0), spec.channel, rng)
    if spec.sample_rate != SAMPLE_RATE:
        wav = soxr.resample(wav, SAMPLE_RATE, spec.sample_rate, quality="HQ")
    if spec.channels > 1:  # the far channel a little quieter
        wav = np.stack([wav * 0.8**k for k in range(spec.channels)], axis=1)
    write_pcm16(path, wav, spec.sample_rate)


def reading_delivery(rng: np.random.Generator) -> tuple[Prosody, Reading]:
    """A read sentence's prosody and delivery, drawn broadly: pitch level and range, rate,
    loudness and voice quality vary as in expressive reading, with no emotion behind them."""
    prosody = Prosody(
        f0_scale=float(np.exp(rng.normal(0, 0.10))),
        f0_range_st=rng.uniform(1.0, 6.0),
        rate_syl_s=rng.uniform(3.4, 6.0),
        level_db=rng.normal(0, 3.0),
        open_quotient=rng.uniform(0.42, 0.74),
        jitter=float(np.exp(rng.uniform(np.log(0.006), np.log(0.03)))),
    )
    question = rng.random() < 0.25
    reading = Reading(
        final_st=rng.uniform(3.0, 7.0) if question else rng.uniform(-5.0, -1.5),
        phrase_declination_st=rng.uniform(0.5, 3.0),
        rate_drift=rng.normal(0, 0.15),
        level_drift_db=rng.normal(0, 3.0),
    )
    return prosody, reading


def _prosody(label: str, rng: np.random.Generator):
    """The prosody an utterance is spoken with, given its written label."""
    if label == "read":
        return vary(EMOTIONS["neu"], rng, amount=0.6)
    if label == "xxx":  # annotators disagreed: a blend of two emotions
        a, b = rng.choice(list(KEPT), 2, replace=False)
        return vary(blend(EMOTIONS[a], EMOTIONS[b], rng.uniform(0.3, 0.7)), rng)
    key = {"exc": "hap", "oth": "neu"}.get(label, label)
    return vary(EMOTIONS[key], rng)
