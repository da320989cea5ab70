"""Audio input: every waveform enters the pipeline as float32 mono at 16 kHz, validated.

A file is usable when it can be read, holds every sample its header declares, holds only finite
samples and lasts at least MIN_SECONDS. The manifest skips unusable files (counted and logged:
real corpora ship empty and cut-short files); a stage that meets one anyway, or a file that no
longer matches its manifest row, stops with one line naming the file.
"""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf
import soxr

from ptapt.errors import PtaptError
from ptapt.progress import progress

SAMPLE_RATE = 16000
# Files taken from a directory of audio (libsndfile reads them; LibriSpeech ships FLAC).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")

# Shortest clip used. Every model here needs a few frames (wav2vec 1.0's encoder sees 465
# samples, wav2vec 2.0's 400); no emotion is heard in less. tests/test_faults.py checks the
# real layouts give frames at this length.
MIN_SECONDS = 0.1


class AudioProblem(PtaptError):
    """An unusable audio file; `kind` groups the problem in the manifest's counted skips."""

    def __init__(self, path, kind: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.kind = kind


def read_native(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(float32 mono, sample rate) of a usable file at its own rate, or AudioProblem."""
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioProblem(path, "unreadable", f"cannot read audio ({err})") from None
    if wav.shape[0] == 0:
        raise AudioProblem(path, "empty", "audio file holds no samples")
    declared = declared_frames(path)
    if declared is not None and declared > wav.shape[0]:
        raise AudioProblem(
            path,
            "truncated",
            f"truncated: header declares {declared} samples, file holds {wav.shape[0]}",
        )
    if not np.isfinite(wav).all():
        raise AudioProblem(path, "non-finite", "holds NaN or infinite samples")
    if wav.shape[0] < MIN_SECONDS * sr:
        raise AudioProblem(
            path,
            "too short",
            f"{1000 * wav.shape[0] / sr:.1f} ms long; clips shorter than "
            f"{1000 * MIN_SECONDS:.0f} ms are not used",
        )
    return (wav.mean(axis=1) if wav.shape[1] > 1 else wav[:, 0]), sr


def declared_frames(path: str | os.PathLike) -> int | None:
    """Samples per channel a RIFF/WAVE header declares; None for other formats and for streamed
    headers (size 0 or 0xFFFFFFFF). libsndfile silently reports what is there instead."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        block_align = 0
        while len(chunk := fh.read(8)) == 8:
            name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if name == b"data":
                return size // block_align if block_align and 0 < size < 0xFFFFFFFF else None
            body = fh.read(size + size % 2)  # chunks are padded to an even size
            if name == b"fmt " and len(body) >= 14:
                block_align = int.from_bytes(body[12:14], "little")
    return None


def load_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, expect: tuple[int, int] | None = None
) -> np.ndarray:
    """`path` as float32 mono at `sample_rate` (channels averaged, other rates resampled);
    `expect` = (samples, rate) the manifest recorded, checked before resampling."""
    mono, sr = read_native(path)
    if expect is not None and (len(mono), sr) != tuple(expect):
        raise PtaptError(
            f"{path}: holds {len(mono)} samples at {sr} Hz, the manifest says {expect[0]} at "
            f"{expect[1]} Hz: the corpus changed after the manifest was written; rebuild it"
        )
    if sr != sample_rate:
        mono = soxr.resample(mono, sr, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def write_pcm16(path: str | os.PathLike, wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a float waveform in [-1, 1] as 16-bit PCM WAV (the IEMOCAP release format)."""
    pcm = np.round(np.clip(wav, -1.0, 1.0) * 32767.0).astype(np.int16)
    sf.write(path, pcm, sample_rate, subtype="PCM_16", format="WAV")


def load_many(paths: list[str], desc: str = "loading audio") -> list[np.ndarray]:
    """Load every file (float32 mono 16 kHz) with a progress bar."""
    return [load_audio(p) for p in progress(paths, desc, "file")]


def load_rows(rows, desc: str = "loading audio") -> list[np.ndarray]:
    """The audio of manifest rows, each checked against the row (samples and rate)."""
    return [
        load_audio(r.path, expect=(r.num_samples, r.sample_rate))
        for r in progress(rows, desc, "file")
    ]
