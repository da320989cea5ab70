"""Resumable training state, written atomically so a kill never leaves a half-written file.

Every random draw of a training step is seeded by (seed, step), so the model, optimizer,
scheduler and step count are all a resumed run needs to continue exactly where it stopped.
A checkpoint carries a fingerprint of the configuration and data that produced it; one with
another fingerprint is not resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from ptapt.atomic import atomic_path

log = logging.getLogger(__name__)


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def digest(arrays) -> str:
    """Content hash of numpy arrays or tensors (training audio, initial weights, labels), so a
    checkpoint is never resumed on other data or another starting point."""
    h = hashlib.sha256()
    for array in arrays:
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().contiguous().view(torch.uint8).numpy()
        h.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return h.hexdigest()[:16]


def load_state(path: Path, required_key: str) -> dict | None:
    """A saved state dict, or None when there is none or it is damaged; a damaged file (a kill
    mid-write on a filesystem without atomic rename, a full disk) is set aside as
    `<name>.damaged`, so a rerun starts over instead of failing."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or required_key not in state:
            raise ValueError(f"no {required_key!r} entry")
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        damaged = path.with_name(path.name + ".damaged")
        path.replace(damaged)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning("%s is damaged (%s); set aside as %s, starting over", path, reason, damaged)
        return None
    return state


class ResumeCheckpoint:
    def __init__(self, directory: str | Path, fingerprint: str):
        self.path = self.path_in(directory)
        self.fingerprint = fingerprint

    @staticmethod
    def path_in(directory: str | Path) -> Path:
        return Path(directory) / "last.pt"

    def save(self, state: dict) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({**state, "fingerprint": self.fingerprint}, tmp)

    def load(self) -> dict | None:
        """The saved state of this run, or None: no checkpoint, one of another run, or a damaged
        one (set aside as last.pt.damaged, so a rerun starts over instead of failing)."""
        state = load_state(self.path, "step")
        if state is None:
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.warning("%s comes from another configuration or data; starting over", self.path)
            return None
        log.info("resuming from %s at step %d", self.path, state["step"])
        return state
