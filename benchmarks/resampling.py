"""Resampling on load: reading 48 kHz stereo (RAVDESS-like) against a cached 16 kHz mono copy.

    python benchmarks/resampling.py [--clips 120] [--seconds 3.7]

Every stage loads its fold's audio once when it starts (not per epoch), through `load_audio`:
read, downmix, soxr resample. This measures, in one run, the seconds to load one hour of audio
from 48 kHz stereo files and from 16 kHz mono copies of the same clips, and sets the
difference against one stage-4 training step of a wav2vec2-base-sized model (2 x 5 s), so the
cost of not caching reads in training steps.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from ptapt.data.audio import load_audio
from ptapt.data.batching import collate
from ptapt.models.backbone import conv_layout
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier


def write_clips(folder: Path, clips: int, seconds: float) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(0)
    high, low = [], []
    for k in range(clips):
        wav = rng.normal(0, 0.1, (int(seconds * 48000), 2)).astype(np.float32)
        high.append(folder / f"{k}_48k.wav")
        sf.write(high[-1], wav, 48000, subtype="PCM_16")
        low.append(folder / f"{k}_16k.wav")
        sf.write(low[-1], load_audio(high[-1]), 16000, subtype="PCM_16")
    return high, low


def load_seconds(paths: list[Path], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for path in paths:
            load_audio(path)
        best = min(best, time.perf_counter() - start)
    return best


def base_step_seconds() -> float:
    """One fine-tuning step (forward, backward) of a wav2vec2-base-sized model on 2 x 5 s."""
    torch.manual_seed(0)
    config = Wav2Vec2Config()
    model = UtteranceClassifier(Wav2Vec2Model(config), ClassifierConfig(["a", "b"]))
    waves = list(np.random.default_rng(0).normal(0, 0.1, (2, 80000)).astype(np.float32))
    batch = collate(waves, conv_layout(config), False, torch.device("cpu"))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        model(batch).sum().backward()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--seconds", type=float, default=3.7)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        high, low = write_clips(Path(tmp), args.clips, args.seconds)
        hours = args.clips * args.seconds / 3600
        per_hour = {name: load_seconds(p) / hours for name, p in (("48k", high), ("16k", low))}
    step = base_step_seconds()
    extra = per_hour["48k"] - per_hour["16k"]
    print(f"{args.clips} clips of {args.seconds} s ({hours * 60:.1f} min), 2 threads")
    print(f"{'load, s per hour of audio':<40} {'48 kHz stereo':>14} {'16 kHz mono':>12}")
    print(f"{'':<40} {per_hour['48k']:>14.2f} {per_hour['16k']:>12.2f}")
    print(
        f"resampling costs {per_hour['48k'] / per_hour['16k']:.1f}x the 16 kHz read: "
        f"{extra:.2f} s per hour of audio per stage run"
    )
    print(
        f"one base-size fine-tuning step (2 x 5 s): {step:.2f} s; the extra load of one hour "
        f"equals {extra / step:.2f} steps"
    )


if __name__ == "__main__":
    main()
