"""A frozen backbone's features, computed once per training utterance, in a float16 memory map
(`store_frames`, which stage 2 uses for its frame features too).

In the `frozen` fine-tuning mode (probes, classifier-only) the backbone runs in eval mode with
fixed weights: a fixed function of its input. Running it for every batch of every epoch only
repeats work, so the head trains on these features instead. Each utterance runs alone, so no
padding reaches a group-norm encoder (as at test time). The map lives on disk: a base model's
13 layers of an IEMOCAP fold take about 20 GB there, and little memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ptapt.data.batching import collate
from ptapt.models.backbone import conv_layout
from ptapt.progress import progress


class FeatureCache:
    """Frames of utterance i at rows offsets[i]:offsets[i+1] of a (frames, layers, dim) map."""

    def __init__(self, frames: np.memmap, counts: np.ndarray):
        self.frames, self.counts = frames, counts
        self.offsets = np.concatenate([[0], np.cumsum(counts)])

    @classmethod
    @torch.no_grad()
    def build(cls, model, waves, path: Path, device, dtype: torch.dtype | None) -> FeatureCache:
        """`model.features` of every wave in `waves`, one at a time, written to `path`."""
        layout = conv_layout(model.backbone.config)

        def frames():
            for wave in progress(waves, "frozen features", "utt"):
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    features = model.features(collate([wave], layout, False, device))[:, 0]
                yield features.transpose(0, 1)  # (T, L, D)

        was_training = model.training
        model.eval()
        cache = cls(*store_frames(frames(), path))
        model.train(was_training)
        return cache

    def batch(self, idx: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (L, B, T, D) float32, zero-padded, and the valid-frame mask (B, T)."""
        counts = self.counts[idx]
        out = np.zeros((len(idx), counts.max(), *self.frames.shape[1:]), dtype=np.float32)
        for row, i in enumerate(idx):
            out[row, : counts[row]] = self.frames[self.offsets[i] : self.offsets[i + 1]]
        valid = np.arange(counts.max())[None] < counts[:, None]
        features = torch.from_numpy(out).permute(2, 0, 1, 3).to(device)
        return features, torch.from_numpy(valid).to(device)


def store_frames(frames, path: Path) -> tuple[np.memmap, np.ndarray]:
    """Tensors of frames (T_i, ...), written one after another to `path` in float16, read back as
    one (sum of T_i, ...) memory map; and each one's T_i."""
    counts = []
    with open(path, "wb") as fh:
        for block in frames:
            fh.write(block.float().cpu().numpy().astype(np.float16).tobytes())
            counts.append(len(block))
            shape = tuple(block.shape[1:])
    memmap = np.memmap(path, dtype=np.float16, mode="r", shape=(sum(counts), *shape))
    return memmap, np.array(counts, dtype=np.int64)
