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
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("%s comes from another configuration or data; starting over", self.path)
            return None
        log.info("resuming from %s at step %d", self.path, state["step"])
        return state
