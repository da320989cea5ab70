"""The one training loop of every stage: seeded steps, AMP on GPU, gradient accumulation,
a NaN guard, periodic resumable checkpoints, a progress bar and a training curve."""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ptapt.errors import PtaptError
from ptapt.training.checkpoint import ResumeCheckpoint

log = logging.getLogger(__name__)

# step_fn(step, micro_step, rng) -> (loss, figures to log); rng is seeded by (seed, step)
StepFn = Callable[[int, int, np.random.Generator], tuple[torch.Tensor, dict[str, float]]]


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    seed: int
    accumulation: int = 1
    checkpoint_every: int = 500
    log_every: int = 50
    max_bad_steps: int = 20  # consecutive non-finite losses before giving up
    clip_grad_norm: float | None = None
    amp: str = "auto"  # auto (fp16 on GPU, off on CPU), off, fp16, bf16


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    if setting == "off" or (setting == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        raise PtaptError(f"amp {setting!r} needs a GPU; use 'auto' or 'off' on {device}")
    return torch.bfloat16 if setting == "bf16" else torch.float16


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63)


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step_fn: StepFn,
    settings: LoopSettings,
    checkpoint: ResumeCheckpoint,
    device: torch.device,
    desc: str = "training",
    after_step: Callable[[int], None] | None = None,
) -> list[dict]:
    """Run `settings.steps` optimizer steps (resuming if a matching checkpoint exists).

    Returns the training curve: one row per `log_every` steps with the mean of every logged
    figure over those steps, the learning rate and the gradient norm. `after_step(done)` runs
    after every step (stage 4 validates at epoch ends); it must be deterministic, since a
    resumed run replays the steps after its checkpoint.
    """
    if device.type == "cpu":  # multi-threaded CPU kernels may otherwise accumulate in any order
        torch.use_deterministic_algorithms(True, warn_only=True)
    dtype = amp_dtype(settings.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    params = [p for p in model.parameters() if p.requires_grad]
    state = checkpoint.load()
    start, curve, bad_total = 0, [], 0
    sums, count, bad_streak = defaultdict(float), 0, 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, curve, bad_total = state["step"], state["curve"], state["bad_steps"]
        sums, count = defaultdict(float, state["sums"]), state["count"]
    model.train()
    bar = tqdm(
        range(start, settings.steps),
        desc=desc,
        initial=start,
        total=settings.steps,
        mininterval=1.0 if sys.stderr.isatty() else 30.0,
    )
    for step in bar:
        torch.manual_seed(step_seed(settings.seed, step))
        np.random.seed(step_seed(settings.seed, step) % 2**32)  # transformers' mask helpers use it
        rng = np.random.default_rng([settings.seed, step])
        optimizer.zero_grad(set_to_none=True)
        finite, logs = True, {}
        for micro in range(settings.accumulation):
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss, logs = step_fn(step, micro, rng)
            if not torch.isfinite(loss).item():
                finite = False
                break
            scaler.scale(loss / settings.accumulation).backward()
        if finite:
            scaler.unscale_(optimizer)
            norm = torch.nn.utils.clip_grad_norm_(params, settings.clip_grad_norm or math.inf)
            # With fp16 loss scaling, overflowing gradients are routine: the scaler skips that
            # update and lowers the scale. Without it, a non-finite gradient is a bad step.
            finite = scaler.is_enabled() or bool(torch.isfinite(norm).item())
        if finite:
            scaler.step(optimizer)
            scaler.update()
            bad_streak = 0
            for key, value in {"loss": loss.item(), **logs, "grad_norm": norm.item()}.items():
                sums[key] += float(value)
            count += 1
        else:
            optimizer.zero_grad(set_to_none=True)
            bad_streak += 1
            bad_total += 1
            log.warning("step %d: non-finite loss or gradient, update skipped", step)
            if bad_streak >= settings.max_bad_steps:
                raise PtaptError(
                    f"{desc}: {bad_streak} consecutive non-finite steps (at step {step}); "
                    "lower the learning rate or check the input audio"
                )
        with warnings.catch_warnings():  # a skipped update still moves the schedule on
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            scheduler.step()
        done = step + 1
        if after_step is not None:
            after_step(done)
        if count and (done % settings.log_every == 0 or done == settings.steps):
            row = {"step": done, "lr": scheduler.get_last_lr()[0], "skipped": bad_total}
            row.update({k: v / count for k, v in sums.items()})
            curve.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}", refresh=False)
            sums, count = defaultdict(float), 0
        if done % settings.checkpoint_every == 0 and done < settings.steps:
            checkpoint.save(
                {
                    "step": done,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(),
                    "curve": curve,
                    "bad_steps": bad_total,
                    "sums": dict(sums),
                    "count": count,
                }
            )
    bar.close()
    if bad_total:
        log.warning("%s: %d of %d steps skipped (non-finite)", desc, bad_total, settings.steps)
    return curve
