"""Batches for training: which utterances form a batch, and the typed batch every stage reads.

- `epoch_batch`: shuffled epochs of fixed-size batches (stage 1).
- `BucketBatches`: length-bucketed batches under a padded-audio budget (stage 3) or of at most
  a number of utterances (stage 4).
- `crop_to_shortest`: stage 1's unpadded batches, every item cut to the shortest.
- `random_crops` + `collate`: random crops, padded into an `AudioBatch` with its valid frames
  and attention mask (stage 3; stage 4 collates its first seconds the same way).

Every draw depends only on (seed, step) or (seed, epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import torch

from ptapt.models.frames import ConvLayout
from ptapt.models.masking import sample_mask, valid_frames


@dataclass(frozen=True)
class AudioBatch:
    wav: torch.Tensor  # (B, L) float32, zero-padded, on the training device
    lengths: np.ndarray  # (B,) real samples per item
    valid: np.ndarray  # (B, T) bool: frame t of item b comes from real samples
    valid_mask: torch.Tensor  # the same, on the device (for pooling)
    attention: torch.Tensor | None  # (B, L) sample mask for layer-norm encoders, else None
    ids: list[str]  # utterance ids
    starts: np.ndarray  # (B,) first sample of each item within its utterance


def collate(
    waves: list[np.ndarray],
    layout: ConvLayout,
    use_attention: bool,
    device: torch.device,
    ids: list[str] | None = None,
    starts: np.ndarray | None = None,
) -> AudioBatch:
    """Zero-pad `waves` to the longest into one typed batch."""
    lengths = np.array([len(w) for w in waves])
    wav = np.zeros((len(waves), lengths.max()), dtype=np.float32)
    for row, w in enumerate(waves):
        wav[row, : len(w)] = w
    valid = valid_frames(lengths, layout)
    return AudioBatch(
        wav=torch.from_numpy(wav).to(device),
        lengths=lengths,
        valid=valid,
        valid_mask=torch.from_numpy(valid).to(device),
        attention=sample_mask(lengths, wav.shape[1]).to(device) if use_attention else None,
        ids=list(ids) if ids is not None else [""] * len(waves),
        starts=np.zeros(len(waves), dtype=np.int64) if starts is None else starts,
    )


def random_crops(
    waves: list[np.ndarray], max_samples: int, stride: int, rng: np.random.Generator
) -> tuple[list[np.ndarray], np.ndarray]:
    """Random crops of at most `max_samples` and their starts in samples.

    Crops start at multiples of `stride` (the backbone's total conv stride, 320), so frame j of a
    crop starting at sample s is frame s / stride + j of the full utterance.
    """
    lengths = [min(len(w), max_samples) for w in waves]
    starts = np.array(
        [
            stride * int(rng.integers(0, (len(w) - n) // stride + 1))
            for w, n in zip(waves, lengths, strict=True)
        ]
    )
    crops = [w[s : s + n] for w, n, s in zip(waves, lengths, starts, strict=True)]
    return crops, starts


def epoch_batch(n_items: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices of the batch of `step`: shuffled epochs without replacement, last partial dropped."""
    size = min(batch_size, n_items)
    per_epoch = n_items // size
    epoch, k = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_items)
    return order[k * size : (k + 1) * size]


def crop_to_shortest(waves: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """(B, L) array: each waveform randomly cropped to the batch's shortest length (no padding)."""
    length = min(len(w) for w in waves)
    starts = [int(rng.integers(0, len(w) - length + 1)) for w in waves]
    return np.stack([w[s : s + length] for w, s in zip(waves, starts, strict=True)])


@dataclass
class BucketBatches:
    """Utterances fall into geometric length buckets: within a bucket, lengths differ by at most
    `ratio` (10 % by default). Each epoch shuffles every bucket, lays the buckets one after
    another in length order, and packs that run into batches while the padded size (items x
    longest item) stays within a budget of audio samples; then it shuffles the batches. A batch
    holds utterances of one bucket or of neighbouring ones, so padding stays small, and batch
    sizes adapt to lengths. This is the reference's dynamic batching (stage 3): its leftover,
    the last batch of the run, which did not fill the budget, is dropped (`drop_last`) unless it
    is the epoch's only batch. With `max_items` (stage 4's batch size) a batch also closes at
    that many utterances: every batch but the last is full."""

    lengths: np.ndarray  # samples per utterance, already capped at the crop length
    max_batch_samples: int  # padded budget: items x longest item
    ratio: float = 1.1  # longest / shortest length within a bucket
    seed: int = 0
    max_items: int | None = None
    drop_last: bool = False
    _cache: dict = field(default_factory=dict, repr=False)
    _ends: list[int] = field(default_factory=list, repr=False)  # steps done after each epoch

    def epoch(self, epoch: int) -> list[np.ndarray]:
        if epoch not in self._cache:
            self._cache = {epoch: self._make_epoch(epoch)}  # keep one epoch in memory
        return self._cache[epoch]

    def _make_epoch(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        bucket = np.floor(np.log(self.lengths) / np.log(self.ratio)).astype(np.int64)
        run = np.concatenate(
            [rng.permutation(np.flatnonzero(bucket == b)) for b in np.unique(bucket)]
        )
        batches = self._pack(run)
        if self.drop_last and len(batches) > 1:
            batches = batches[:-1]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _pack(self, items: np.ndarray) -> list[np.ndarray]:
        batches, current, longest = [], [], 0
        for item in items:
            grown = max(longest, self.lengths[item]) * (len(current) + 1)
            full = len(current) == self.max_items
            if current and (grown > self.max_batch_samples or full):
                batches.append(np.array(current))
                current, longest = [], 0
            current.append(item)
            longest = max(longest, self.lengths[item])
        if current:
            batches.append(np.array(current))
        return batches

    def batch(self, step: int) -> np.ndarray:
        """Utterance indices of global step `step` (epochs follow one another). Epoch sizes
        vary with the packing, so each epoch's end is recorded once: a step is found by
        bisection, and only the epoch it falls in is kept in memory."""
        while not self._ends or step >= self._ends[-1]:
            done = self._ends[-1] if self._ends else 0
            self._ends.append(done + len(self.epoch(len(self._ends))))
        epoch = bisect.bisect_right(self._ends, step)
        return self.epoch(epoch)[step - (self._ends[epoch - 1] if epoch else 0)]
