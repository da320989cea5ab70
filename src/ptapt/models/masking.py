"""Time masks for masked prediction, restricted to valid (non-padded) frames.

transformers' `_compute_mask_indices` draws spans from numpy's global generator (the training
loop seeds it every step), refuses spans longer than the batch, and may mark a padded frame.
Here spans are shortened to fit short batches, masks never cover padding, and every utterance
gets at least one masked span, so clips shorter than a span still train.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

from ptapt.models.frames import ConvLayout, num_frames


def uses_attention_mask(config) -> bool:
    """Layer-norm encoders take an attention mask; group-norm ones (wav2vec2-base) run without,
    as they were pretrained (transformers' feature-extractor convention)."""
    return getattr(config, "feat_extract_norm", "group") == "layer"


def sample_mask(lengths: np.ndarray, width: int) -> torch.Tensor:
    """(B, width) long attention mask: 1 on real samples, 0 on padding."""
    return torch.from_numpy(np.arange(width)[None, :] < np.asarray(lengths)[:, None]).long()


def valid_frames(lengths: np.ndarray, layout: ConvLayout) -> np.ndarray:
    """(B, T) bool: frame t of item b comes from real samples, T = frames of the longest."""
    counts = np.array([num_frames(int(n), layout) for n in lengths])
    return np.arange(counts.max())[None, :] < counts[:, None]


def time_mask(valid: np.ndarray, prob: float, span: int, min_masks: int) -> np.ndarray:
    """(B, T) bool mask of spans over valid frames only; at least one span per item."""
    batch, frames = valid.shape
    span = max(1, min(span, frames))
    mask = (
        _compute_mask_indices(
            (batch, frames),
            prob,
            span,
            attention_mask=torch.from_numpy(valid).long(),
            min_masks=min_masks,
        )
        & valid
    )
    for row in np.flatnonzero(~mask.any(axis=1)):
        n_valid = int(valid[row].sum())
        width = min(span, n_valid)
        start = np.random.randint(0, n_valid - width + 1)
        mask[row, start : start + width] = True
    return mask


def padded_time_mask(
    valid: np.ndarray, prob: float, span: int, min_masks: int, frames: int
) -> np.ndarray:
    """(B, T) bool SpecAugment time mask as the reference draws it in stage 4 (fidelity N1):
    spans over `frames`, the frame count of a full training crop (the padded length of the
    reference's random batches), cut to the batch and kept inside each utterance's valid
    frames. A short utterance is thus masked at the same rate per frame as a long one, often
    not at all; transformers, given an attention mask, would put at least `min_masks` spans
    inside every utterance (half of a 1 s clip)."""
    batch, width = valid.shape
    frames = max(frames, width, span)
    mask = _compute_mask_indices((batch, frames), prob, span, min_masks=min_masks)
    return mask[:, :width] & valid


def zero_spans(z: torch.Tensor, spec: dict) -> torch.Tensor:
    """SpecAugment on (B, C, T) features, set to 0 (the reference's stage 1): time spans with
    `mask_time_*` and channel spans with `mask_feature_*` settings. Spans longer than the input
    are shortened to fit."""
    batch, channels, frames = z.shape
    masks = []
    for prob, length, minimum, size in (
        (spec["mask_time_prob"], spec["mask_time_length"], spec["mask_time_min_masks"], frames),
        (
            spec["mask_feature_prob"],
            spec["mask_feature_length"],
            spec["mask_feature_min_masks"],
            channels,
        ),
    ):
        if prob > 0 and size > 0:
            span = max(1, min(length, size))
            masks.append(_compute_mask_indices((batch, size), prob, span, min_masks=minimum))
        else:
            masks.append(np.zeros((batch, size), dtype=bool))
    time, channel = (torch.from_numpy(m).to(z.device) for m in masks)
    return z.masked_fill(time[:, None, :] | channel[:, :, None], 0.0)
