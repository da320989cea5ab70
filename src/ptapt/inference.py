"""Inference with the pipeline's models, from Python or `ptapt predict`.

    import ptapt
    model = ptapt.load_classifier("results/demo/fold1/ptapt/seed0/model")
    for p in model.predict(["a.wav", "b.flac"]):
        print(p.source, p.label, p.probabilities)

`predict` takes file paths or float arrays (16 kHz mono; `sample_rate=` resamples) and scores
them longest first in batches (one at a time for group-norm encoders such as wav2vec2-base,
which take no attention mask: a prediction never depends on its batch). `FramePosteriors`
gives the stage-1 frame model's emotion posterior every 20 ms.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
import torch
import torch.nn.functional as F

from ptapt.corpora.base import audio_files
from ptapt.data.audio import AUDIO_SUFFIXES, MIN_SECONDS, SAMPLE_RATE, load_audio
from ptapt.errors import PtaptError
from ptapt.training.loop import pick_device


@dataclass(frozen=True)
class Prediction:
    source: str  # the path, or "array <i>"
    label: str
    probabilities: dict[str, float]


class Classifier:
    """A fine-tuned utterance classifier (stage 4's model/ directory) on a device."""

    def __init__(self, model, device: torch.device):
        self.model = model.to(device).eval()

    @property
    def labels(self) -> list[str]:
        return list(self.model.config.labels)

    def predict(
        self,
        items: Sequence[str | Path | np.ndarray],
        batch_size: int = 8,
        sample_rate: int = SAMPLE_RATE,
    ) -> list[Prediction]:
        sources = [s if isinstance(s, str | Path) else f"array {i}" for i, s in enumerate(items)]
        waves = [
            waveform(item, sample_rate, str(src)) for item, src in zip(items, sources, strict=True)
        ]
        probabilities = self.model.probabilities(waves, batch_size)
        for source, row in zip(sources, probabilities, strict=True):
            if not np.isfinite(row).all():
                raise PtaptError(f"non-finite probabilities for {source}; broken weights")
        return [
            Prediction(
                str(src),
                self.labels[int(row.argmax())],
                dict(zip(self.labels, map(float, row), strict=True)),
            )
            for src, row in zip(sources, probabilities, strict=True)
        ]


def load_classifier(directory: str | Path, device: str = "auto") -> Classifier:
    """A stage-4 model/ directory, ready to predict on `device` (auto: the GPU if any)."""
    from ptapt.models.utterance_classifier import load_classifier as load_model

    return Classifier(load_model(directory), pick_device(device))


def waveform(item, sample_rate: int, source: str) -> np.ndarray:
    """A path read as 16 kHz mono, or an array checked (1-D, finite, long enough) and
    resampled to 16 kHz."""
    if isinstance(item, str | Path):
        return load_audio(item)
    wave = np.asarray(item, dtype=np.float32)
    if wave.ndim != 1:
        raise PtaptError(f"{source}: expected mono audio (1-D), got shape {wave.shape}")
    if len(wave) < MIN_SECONDS * sample_rate or not np.isfinite(wave).all():
        raise PtaptError(f"{source}: empty, shorter than {MIN_SECONDS} s, or not finite")
    if sample_rate != SAMPLE_RATE:
        wave = soxr.resample(wave, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(wave, dtype=np.float32)


def audio_inputs(arguments: Iterable[str]) -> list[str]:
    """Audio paths from command-line arguments: files, directories (their audio files,
    sorted), `@list.txt` (one path per line) and `-` (paths on standard input)."""
    paths: list[str] = []
    for argument in arguments:
        if argument == "-":
            paths += [line.strip() for line in sys.stdin if line.strip()]
        elif argument.startswith("@"):
            paths += list_file(argument[1:])
        elif Path(argument).is_dir():
            found = [str(p) for p in audio_files(Path(argument), AUDIO_SUFFIXES)]
            if not found:
                raise PtaptError(f"{argument}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
            paths += found
        else:
            paths.append(argument)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise PtaptError(f"{missing[0]}: no such file ({len(missing)} input(s) missing)")
    if not paths:
        raise PtaptError("no audio given")
    return paths


def list_file(path: str) -> list[str]:
    """Paths listed one per line; relative ones are relative to the list's folder."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise PtaptError(f"{path}: cannot read the list ({err.strerror})") from None
    base = Path(path).parent
    return [str(base / line.strip()) for line in lines if line.strip() and not line.startswith("#")]


class FramePosteriors:
    """The stage-1 model's emotion posterior per aligned frame (20 ms), the frame-level
    emotion of the paper's Figure 1(a)."""

    FRAME_SECONDS = 0.02

    def __init__(self, stage1_dir: str | Path, device: str = "auto"):
        from ptapt.models.frame_classifier import load_frame_classifier

        self.device = pick_device(device)
        self.model = load_frame_classifier(stage1_dir).to(self.device).eval()
        self.labels = list(self.model.config.labels)

    @torch.no_grad()
    def __call__(self, wave: np.ndarray) -> np.ndarray:
        """(frames, classes) probabilities of one 16 kHz utterance."""
        frame_logits, _ = self.model(torch.from_numpy(wave)[None].to(self.device))
        return F.softmax(frame_logits[0].float(), dim=-1).cpu().numpy()
