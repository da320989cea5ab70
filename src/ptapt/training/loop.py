"""The one training loop of every stage: seeded steps, mixed precision, gradient accumulation,
a NaN guard, periodic resumable checkpoints, a progress bar and a training curve."""

from __future__ import annotations

import logging
import math
import warnings
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import torch

from ptapt.config import TrainingConfig
from ptapt.errors import PtaptError
from ptapt.progress import progress
from ptapt.training.checkpoint import ResumeCheckpoint

log = logging.getLogger(__name__)

# step_fn(step, micro_step, rng) -> (loss, figures to log); rng is seeded by (seed, step).
# A stage with gradient accumulation draws batch `step * accumulation + micro_step`.
StepFn = Callable[[int, int, np.random.Generator], tuple[torch.Tensor, dict[str, float]]]


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, None for float32. auto: bf16 where the hardware computes in it (a
    GPU that has it, a CPU with AVX-512 BF16 or AMX), fp16 with loss scaling on other GPUs,
    float32 on other CPUs. fp16 on a CPU is refused: it has no loss scaling there."""
    if setting == "off":
        return None
    if setting == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_bf16() else None
    if setting == "fp16" and device.type != "cuda":
        raise PtaptError(f"amp 'fp16' needs a GPU (loss scaling); use 'bf16' or 'off' on {device}")
    return torch.bfloat16 if setting == "bf16" else torch.float16


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic on this CPU; without it bf16 is emulated and slower than float32."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def precision(setting: str, device: torch.device) -> str:
    """The name of the precision `setting` trains in on `device` (recorded with the timing)."""
    return {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}[
        amp_dtype(setting, device)
    ]


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63)


def seed_step(seed: int, step: int) -> np.random.Generator:
    """Seed every generator a step may draw from; return the step's own numpy generator."""
    torch.manual_seed(step_seed(seed, step))
    np.random.seed(step_seed(seed, step) % 2**32)  # transformers' mask helpers use it
    return np.random.default_rng([seed, step])


class Trainer:
    """Runs `steps` optimizer steps of `step_fn` on `model`, resuming from `checkpoint`.

    `after_step(done)` runs after every step (stage 4 validates at epoch ends); it must be
    deterministic, since a resumed run replays the steps after its checkpoint.
    """

    def __init__(
        self,
        model,
        optimizer,
        scheduler,
        step_fn: StepFn,
        cfg: TrainingConfig,
        *,
        steps: int,
        seed: int,
        checkpoint: ResumeCheckpoint,
        device: torch.device,
        desc: str,
        after_step: Callable[[int], None] | None = None,
    ):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.step_fn, self.cfg, self.steps, self.seed = step_fn, cfg, steps, seed
        self.checkpoint, self.device, self.desc = checkpoint, device, desc
        self.after_step = after_step
        self.dtype = amp_dtype(cfg.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.start, self.curve, self.bad_total, self.bad_streak = 0, [], 0, 0
        self.sums, self.count = defaultdict(float), 0

    def run(self) -> list[dict]:
        """The training curve: one row per `log_every` steps with the mean of every logged
        figure over those steps, the learning rate and the gradient norm."""
        if self.device.type == "cpu":  # multi-threaded CPU kernels may accumulate in any order
            torch.use_deterministic_algorithms(True, warn_only=True)
        self._resume()
        self.model.train()
        bar = progress(
            range(self.start, self.steps), self.desc, "step", total=self.steps, initial=self.start
        )
        for step in bar:
            self._step(step)
            with warnings.catch_warnings():  # a skipped update still moves the schedule on
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                self.scheduler.step()
            done = step + 1
            if self.after_step is not None:
                self.after_step(done)
            self._record(done, bar)
            if done % self.cfg.checkpoint_every == 0 and done < self.steps:
                self.checkpoint.save(self._state(done))
        bar.close()
        if self.bad_total:
            log.warning(
                "%s: %d of %d steps skipped (non-finite)", self.desc, self.bad_total, self.steps
            )
        return self.curve

    def _step(self, step: int) -> None:
        rng = seed_step(self.seed, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss, logs, norm = self._gradients(step, rng)
        if loss is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.bad_streak = 0
            for key, value in {"loss": loss.item(), **logs, "grad_norm": norm.item()}.items():
                self.sums[key] += float(value)
            self.count += 1
        else:
            self._bad_step(step)

    def _gradients(self, step: int, rng):
        """Accumulated, unscaled gradients: (loss, logs, norm), or Nones for a bad step."""
        accumulation = self.cfg.accumulation
        for micro in range(accumulation):
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
                loss, logs = self.step_fn(step, micro, rng)
            if not torch.isfinite(loss).item():
                return None, None, None
            self.scaler.scale(loss / accumulation).backward()
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.clip_grad_norm or math.inf)
        # With fp16 loss scaling, overflowing gradients are routine: the scaler skips that
        # update and lowers the scale. Without it, a non-finite gradient is a bad step.
        if not self.scaler.is_enabled() and not torch.isfinite(norm).item():
            return None, None, None
        return loss, logs, norm

    def _bad_step(self, step: int) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.bad_streak += 1
        self.bad_total += 1
        log.warning("step %d: non-finite loss or gradient, update skipped", step)
        if self.bad_streak >= self.cfg.max_bad_steps:
            raise PtaptError(
                f"{self.desc}: {self.bad_streak} consecutive non-finite steps (at step {step}); "
                "lower the learning rate or check the input audio"
            )

    def _record(self, done: int, bar) -> None:
        if self.count and (done % self.cfg.log_every == 0 or done == self.steps):
            row = {"step": done, "lr": self.scheduler.get_last_lr()[0], "skipped": self.bad_total}
            row.update({k: v / self.count for k, v in self.sums.items()})
            self.curve.append(row)
            bar.set_postfix(loss=f"{row['loss']:.4g}", refresh=False)
            self.sums, self.count = defaultdict(float), 0

    def _state(self, done: int) -> dict:
        return {
            "step": done,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "curve": self.curve,
            "bad_steps": self.bad_total,
            "sums": dict(self.sums),
            "count": self.count,
        }

    def _resume(self) -> None:
        state = self.checkpoint.load()
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.start, self.curve, self.bad_total = state["step"], state["curve"], state["bad_steps"]
        self.sums, self.count = defaultdict(float, state["sums"]), state["count"]
