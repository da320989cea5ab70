"""Stage 2's pseudo-labels (pseudo_labels.npz): the writer, and the reader that gives frame
targets for random crops. The acoustic units of pretraining from scratch use the same file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ptapt.atomic import atomic_path
from ptapt.errors import PtaptError
from ptapt.models.frames import ConvLayout, num_frames

IGNORE = -100  # cross-entropy's ignore_index: padded frames


def write_pseudo_labels(
    path: str | Path, utt_ids: list[str], frame_counts, labels: dict[int, np.ndarray]
) -> None:
    """One id per frame for each K (`labels[K]`, utterances end to end in `utt_ids` order,
    `frame_counts` frames each), written atomically."""
    offsets = np.concatenate([[0], np.cumsum(frame_counts)]).astype(np.int64)
    arrays = {f"k{k}": ids for k, ids in labels.items()}
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, utt_ids=np.array(utt_ids), offsets=offsets, **arrays)


class PseudoLabels:
    def __init__(self, path: str | Path):
        try:
            with np.load(path) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError) as err:
            raise PtaptError(f"{path}: cannot read pseudo-labels ({err})") from None
        self.path = path
        keys = sorted((k for k in arrays if re.fullmatch(r"k\d+", k)), key=lambda k: int(k[1:]))
        if not keys or "utt_ids" not in arrays or "offsets" not in arrays:
            raise PtaptError(f"{path}: not a pseudo_labels.npz (utt_ids, offsets, k<K> arrays)")
        self.ks = [int(k[1:]) for k in keys]
        self.ids = {u: i for i, u in enumerate(arrays["utt_ids"].tolist())}
        self.offsets = arrays["offsets"]
        self.labels = [arrays[k].astype(np.int64) for k in keys]

    def check(self, utt_ids: list[str], n_samples: list[int], layout: ConvLayout) -> None:
        """Every utterance must have labels for exactly the backbone's frames of its audio."""
        for utt, n in zip(utt_ids, n_samples, strict=True):
            if utt not in self.ids:
                raise PtaptError(f"{self.path}: no pseudo-labels for {utt}")
            i = self.ids[utt]
            have, want = self.offsets[i + 1] - self.offsets[i], num_frames(n, layout)
            if have != want:
                raise PtaptError(
                    f"{self.path}: {utt} has {have} labelled frames but its audio has {want}"
                )

    def targets(
        self, utt_ids: list[str], starts: np.ndarray, frames: np.ndarray, stride: int
    ) -> list[np.ndarray]:
        """One (B, T) int64 array per K: labels of each crop's frames, IGNORE on padding.

        A crop starting at sample s (a multiple of `stride`) begins at label frame s / stride.
        """
        width = int(frames.max())
        out = [np.full((len(utt_ids), width), IGNORE, dtype=np.int64) for _ in self.ks]
        for row, (utt, start, n) in enumerate(zip(utt_ids, starts, frames, strict=True)):
            first = self.offsets[self.ids[utt]] + start // stride
            for target, labels in zip(out, self.labels, strict=True):
                target[row, :n] = labels[first : first + n]
        return out
