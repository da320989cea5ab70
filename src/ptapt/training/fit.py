"""The skeleton every training stage shares.

A stage writes only what is its own (the model, the batch, the objective, its metrics):

    device = prepare(cfg.device, seed)            # device, and the seed of initialisation
    model = ...; step_fn = ...                    # the stage's model and one training step
    key = run_fingerprint(model, cfg, steps, seed, identity=[...], desc=...)
    curve = fit(model, step_fn, cfg, steps=..., seed=..., work_dir=..., fingerprint=key, ...)
    ... save the model ...
    finish(out_dir, work_dir, train_ids, curve, metrics)

`run_fingerprint` names the run (configuration, `identity`: the data and anything else that
defines it, and the initial weights); the resumable checkpoint and any best-weights file carry
it, and one from another fingerprint is never resumed. `fit` builds Adam and the schedule and
runs the resumable loop. `finish` writes train_ids.txt, curve.csv
and metrics.json, then drops the resumable checkpoint: only once every artifact is in place.

Wall-clock training time goes to timing.json beside them, never into metrics.json, which stays
identical for the same seed: seconds and steps of the last process that trained (a resumed run
says where it resumed), the device and the precision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from ptapt.atomic import write_csv, write_json, write_lines, write_text
from ptapt.config import TrainingConfig
from ptapt.training.checkpoint import ResumeCheckpoint, digest
from ptapt.training.checkpoint import fingerprint as checksum
from ptapt.training.loop import StepFn, Trainer, pick_device, precision
from ptapt.training.schedule import adam_with_schedule

TIMING = "timing.json"


def prepare(device: str, seed: int) -> torch.device:
    """The training device; seeds torch for the model's initialisation."""
    chosen = pick_device(device)
    torch.manual_seed(seed)
    return chosen


def fit(
    model: torch.nn.Module,
    step_fn: StepFn,
    cfg: TrainingConfig,
    *,
    steps: int,
    seed: int,
    work_dir: str | Path,
    fingerprint: str,
    device: torch.device,
    desc: str,
    after_step: Callable[[int], None] | None = None,
) -> list[dict]:
    """Train `model` for `steps` optimizer steps, resuming from `work_dir` if a checkpoint of
    the run `fingerprint` is there; returns the training curve."""
    optimizer, scheduler = adam_with_schedule(model, cfg.lr, steps, cfg.warmup, cfg.flat)
    trainer = Trainer(
        model,
        optimizer,
        scheduler,
        step_fn,
        cfg,
        steps=steps,
        seed=seed,
        checkpoint=ResumeCheckpoint(work_dir, fingerprint),
        device=device,
        desc=desc,
        after_step=after_step,
    )
    began = time.perf_counter()
    curve = trainer.run()
    timing = {"seconds": round(time.perf_counter() - began, 3), "steps": steps}
    timing.update(resumed_at_step=trainer.start, device=str(device))
    timing.update(precision=precision(cfg.amp, device))
    write_json(Path(work_dir) / TIMING, timing)
    return curve


def run_fingerprint(model, cfg: TrainingConfig, steps: int, seed: int, identity, desc: str):
    """What defines a run: its configuration, data and initial weights (call before training)."""
    return checksum([desc, asdict(cfg), steps, seed, identity, digest(model.state_dict().values())])


def finish(
    out_dir: str | Path,
    work_dir: str | Path,
    train_ids: list[str],
    curve: list[dict],
    metrics: dict,
) -> None:
    """Write the artifacts every training stage has, then drop its resumable checkpoint."""
    out = Path(out_dir)
    write_lines(out / "train_ids.txt", train_ids)
    write_csv(out / "curve.csv", curve)
    write_json(out / "metrics.json", metrics)
    timing = Path(work_dir) / TIMING
    if timing.exists():
        write_text(out / TIMING, timing.read_text())
        timing.unlink()
    ResumeCheckpoint.path_in(work_dir).unlink(missing_ok=True)
