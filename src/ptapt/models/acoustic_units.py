"""Acoustic units: k-means ids of MFCC frames, the targets of HuBERT's first iteration.

Each MFCC frame is cut exactly where a wav2vec 2.0 CNN frame looks (its receptive field, at its
stride), so unit i of an utterance belongs to backbone frame i, and the units are written in
stage 2's pseudo_labels.npz format for the same crop arithmetic. Cepstral means are removed per
utterance, so a unit describes the sound more than the microphone or the room.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from scipy.fft import dct, rfft
from transformers.audio_utils import mel_filter_bank

from ptapt.data.audio import SAMPLE_RATE
from ptapt.data.pseudo_labels import write_pseudo_labels
from ptapt.models import kmeans
from ptapt.models.frames import ConvLayout, num_frames, receptive_field, total_stride

N_MELS = 40
N_CEPSTRA = 13  # with their first and second differences: 39 values per frame


@cache
def _analysis(window: int) -> tuple[np.ndarray, np.ndarray, int]:
    n_fft = 1 << (window - 1).bit_length()
    filters = mel_filter_bank(n_fft // 2 + 1, N_MELS, 0.0, SAMPLE_RATE / 2, SAMPLE_RATE)
    return np.hanning(window), filters, n_fft


def mfcc(wave: np.ndarray, layout: ConvLayout) -> np.ndarray:
    """(frames, 39) float32 MFCCs with deltas, one per backbone frame, utterance mean removed."""
    field, hop = receptive_field(layout), total_stride(layout)
    n = num_frames(len(wave), layout)
    frames = np.lib.stride_tricks.sliding_window_view(wave, field)[::hop][:n]
    window, filters, n_fft = _analysis(field)
    power = np.abs(rfft(frames * window, n_fft)) ** 2
    cepstra = dct(np.log(power @ filters + 1e-10), type=2, norm="ortho")[:, :N_CEPSTRA]
    cepstra -= cepstra.mean(0)
    delta = np.gradient(cepstra, axis=0) if n > 1 else np.zeros_like(cepstra)
    delta2 = np.gradient(delta, axis=0) if n > 1 else np.zeros_like(cepstra)
    return np.concatenate([cepstra, delta, delta2], axis=1).astype(np.float32)


def write_units(
    ids: list[str], waves: list[np.ndarray], layout: ConvLayout, k: int, seed: int, path: Path
) -> dict:
    """k-means (K = `k`) over every frame's standardized MFCCs; the ids go to `path` as a
    pseudo_labels.npz. Returns the clustering's inertia and the frame count."""
    per_utt = [mfcc(w, layout) for w in waves]
    features = np.concatenate(per_utt)
    features = (features - features.mean(0)) / (features.std(0) + 1e-8)
    centroids = kmeans.fit(features, k, seed=seed)
    units, inertia = kmeans.assign(features, centroids)
    write_pseudo_labels(path, ids, [len(f) for f in per_utt], {k: units})
    return {"k": k, "frames": len(features), "inertia_per_frame": inertia / len(features)}
