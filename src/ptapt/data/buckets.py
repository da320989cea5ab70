"""Length-bucketed dynamic batches of random crops, for continued pretraining.

Utterances fall into geometric length buckets: within a bucket, lengths differ by at most
`ratio` (10 % by default), so a batch drawn from one bucket wastes at most that share on
padding. Each epoch shuffles every bucket, packs its utterances into batches while the padded
size (items x longest item) stays within a budget of audio samples, then shuffles all batches.
Batch sizes thus adapt to lengths: many short clips or a few long ones. The last batch of a
bucket may be smaller. Everything is a function of (seed, epoch): a resumed run sees the same
batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BucketBatches:
    lengths: np.ndarray  # samples per utterance, already capped at the crop length
    max_batch_samples: int  # padded budget: items x longest item
    ratio: float = 1.1  # longest / shortest length within a bucket
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    def epoch(self, epoch: int) -> list[np.ndarray]:
        if epoch not in self._cache:
            self._cache = {epoch: self._make_epoch(epoch)}  # keep one epoch in memory
        return self._cache[epoch]

    def _make_epoch(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        bucket = np.floor(np.log(self.lengths) / np.log(self.ratio)).astype(np.int64)
        batches = []
        for b in np.unique(bucket):
            batches += self._pack(rng.permutation(np.flatnonzero(bucket == b)))
        return [batches[i] for i in rng.permutation(len(batches))]

    def _pack(self, items: np.ndarray) -> list[np.ndarray]:
        batches, current, longest = [], [], 0
        for item in items:
            if (
                current
                and max(longest, self.lengths[item]) * (len(current) + 1) > self.max_batch_samples
            ):
                batches.append(np.array(current))
                current, longest = [], 0
            current.append(item)
            longest = max(longest, self.lengths[item])
        if current:
            batches.append(np.array(current))
        return batches

    def batch(self, step: int) -> np.ndarray:
        """Utterance indices of global step `step` (epochs follow one another)."""
        epoch = 0
        while step >= len(self.epoch(epoch)):
            step -= len(self.epoch(epoch))
            epoch += 1
        return self.epoch(epoch)[step]


def crop_batch(
    waves: list[np.ndarray], max_samples: int, stride: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random crops of at most `max_samples`, zero-padded to the longest.

    Crops start at multiples of `stride` (the backbone's total conv stride, 320), so frame j of a
    crop starting at sample s is frame s / stride + j of the full utterance.
    Returns (batch (B, L) float32, lengths (B,), starts (B,)) in samples.
    """
    lengths = np.array([min(len(w), max_samples) for w in waves])
    starts = np.array(
        [
            stride * int(rng.integers(0, (len(w) - n) // stride + 1))
            for w, n in zip(waves, lengths, strict=True)
        ]
    )
    batch = np.zeros((len(waves), lengths.max()), dtype=np.float32)
    for row, (w, n, s) in enumerate(zip(waves, lengths, starts, strict=True)):
        batch[row, :n] = w[s : s + n]
    return batch, lengths, starts
