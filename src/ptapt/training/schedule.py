"""Learning-rate schedule of the reference: linear warmup, a flat stretch, linear decay to 0."""

from __future__ import annotations

import torch
from torch import nn

from ptapt.config import steps_of


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


def adam_with_schedule(
    model: nn.Module, lr: float, total: int, warmup: float, flat: float | None
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam over the trainable parameters, and the schedule with warmup and flat stretch given
    as shares of `total` (below 1) or step counts; `flat` None keeps the rate constant to the
    end (no weight decay, as the reference)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr)
    flat_steps = total if flat is None else steps_of(flat, total)
    schedule = warmup_flat_decay(optimizer, total, steps_of(warmup, total), flat_steps)
    return optimizer, schedule
