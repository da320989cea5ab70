"""Model selection during training: the weights of the best evaluation so far.

Kept in memory and on disk (atomically, with the history), so a resumed run still has them. The
file carries the run's fingerprint: one left by another configuration or data is set aside,
never restored.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from ptapt.atomic import atomic_path
from ptapt.training.checkpoint import load_state

log = logging.getLogger(__name__)


class BestWeights:
    def __init__(self, model: torch.nn.Module, work_dir: str | Path, fingerprint: str):
        self.model, self.fingerprint = model, fingerprint
        self.path = Path(work_dir) / "best.pt"
        saved = load_state(self.path, "history") or {}
        if saved and saved.get("fingerprint") != fingerprint:
            log.warning("%s comes from another configuration or data; ignoring it", self.path)
            saved = {}
        self.history: dict[int, float] = saved.get("history", {})
        self.best: int | None = saved.get("best")
        self.state: dict | None = saved.get("state")

    def record(self, point: int, score: float) -> None:
        """The score (higher is better) of the model as it is now, at step or epoch `point`."""
        self.history[point] = score
        if self.best is None or score > self.history[self.best]:
            self.best = point
            self.state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        saved = {"fingerprint": self.fingerprint, "history": self.history}
        with atomic_path(self.path) as tmp:
            torch.save({**saved, "best": self.best, "state": self.state}, tmp)

    def restore(self) -> int | None:
        """Load the best weights; the point they come from, or None if nothing was recorded."""
        if self.state is None:
            return None
        self.model.load_state_dict(self.state)
        return self.best

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
