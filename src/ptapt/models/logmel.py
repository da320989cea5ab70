"""Utterance statistics of log-mel filterbanks: the features of the `logmel` reference method."""

from __future__ import annotations

from functools import cache

import numpy as np
from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

from ptapt.config import LogmelConfig
from ptapt.data.audio import SAMPLE_RATE


@cache
def _filters(n_fft: int, n_mels: int) -> np.ndarray:
    return mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, SAMPLE_RATE / 2, SAMPLE_RATE)


def log_mel(wave: np.ndarray, cfg: LogmelConfig) -> np.ndarray:
    """(n_mels, frames) natural-log mel energies of a 16 kHz waveform."""
    window = int(cfg.window_ms * SAMPLE_RATE / 1000)
    hop = int(cfg.hop_ms * SAMPLE_RATE / 1000)
    n_fft = 1 << (window - 1).bit_length()
    if len(wave) <= window // 2:  # reflect padding needs more samples than half a window
        wave = np.pad(wave, (0, window // 2 + 1 - len(wave)))
    return spectrogram(
        wave.astype(np.float64),
        window_function(window, "hann"),
        frame_length=window,
        hop_length=hop,
        fft_length=n_fft,
        power=2.0,
        mel_filters=_filters(n_fft, cfg.n_mels),
        log_mel="log",
    )


def utterance_statistics(wave: np.ndarray, cfg: LogmelConfig) -> np.ndarray:
    """Per band: mean, std, 10th and 90th percentile, std of the frame-to-frame delta."""
    mel = log_mel(wave, cfg)
    delta = np.diff(mel, axis=1) if mel.shape[1] > 1 else np.zeros_like(mel)
    low, high = np.percentile(mel, [10, 90], axis=1)
    return np.concatenate([mel.mean(1), mel.std(1), low, high, delta.std(1)]).astype(np.float32)
