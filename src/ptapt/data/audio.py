"""Audio input: every waveform enters the pipeline as float32 mono at 16 kHz."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from ptapt.errors import PtaptError

SAMPLE_RATE = 16000


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `path` as float32 mono at `sample_rate`: channels averaged, other rates resampled."""
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise PtaptError(f"{path}: cannot read audio ({err})") from None
    if wav.shape[0] == 0:
        raise PtaptError(f"{path}: audio file holds no samples")
    mono = wav.mean(axis=1) if wav.shape[1] > 1 else wav[:, 0]
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def write_pcm16(path: str | os.PathLike, wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a float waveform in [-1, 1] as 16-bit PCM WAV (the IEMOCAP release format)."""
    pcm = np.round(np.clip(wav, -1.0, 1.0) * 32767.0).astype(np.int16)
    sf.write(path, pcm, sample_rate, subtype="PCM_16", format="WAV")


def load_many(paths: list[str], desc: str = "loading audio") -> list[np.ndarray]:
    """Load every file (float32 mono 16 kHz) with a progress bar."""
    return [load_audio(p) for p in tqdm(paths, desc=desc, unit="file", mininterval=5.0)]
