"""Loss helpers."""

from __future__ import annotations

import numpy as np
import torch


def class_weights(label_ids: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency of the training labels, normalised to sum to 1 (as the reference).

    A class absent from training gets weight 0 instead of an infinite one.
    """
    counts = np.bincount(label_ids, minlength=n_classes).astype(np.float64)
    inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return torch.tensor(inverse / inverse.sum(), dtype=torch.float32)
