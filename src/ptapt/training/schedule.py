"""Learning-rate schedule of the reference: linear warmup, a flat stretch, linear decay to 0."""

from __future__ import annotations

import torch


def warmup_flat_decay(
    optimizer: torch.optim.Optimizer, total: int, warmup: int, flat: int
) -> torch.optim.lr_scheduler.LambdaLR:
    decay_start = warmup + flat

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if step < decay_start:
            return 1.0
        return max(0.0, (total - step) / max(1, total - decay_start))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
