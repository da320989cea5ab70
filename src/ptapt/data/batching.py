"""Batches for training: epoch-shuffled utterance batches, cropped to equal length.

Every draw depends only on (seed, step) or (seed, epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import numpy as np


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
