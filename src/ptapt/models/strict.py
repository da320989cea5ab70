"""Strict weight loading: a missing, unexpected or mis-shaped weight is an error naming it.

Every loader (wav2vec 1.0 checkpoints, stage-1 models, backbones, classifier heads) reports a
mismatch in the same one-line format.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ptapt.errors import PtaptError


def read_weights(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing or damaged file is one line naming it."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise PtaptError(f"{path}: missing; not a complete {what}") from None
    except SafetensorError as err:
        raise PtaptError(f"{path}: cannot read, damaged or truncated ({err})") from None


def _few(keys) -> str:
    keys = sorted(map(str, keys))
    return f"{keys[:8]}{' ...' if len(keys) > 8 else ''}"


def check_keys(source, target: str, missing=(), unexpected=(), mismatched=()) -> None:
    """Raise if any key is missing, unexpected or of another shape."""
    if missing or unexpected or mismatched:
        raise PtaptError(
            f"{source}: weights do not match {target}: missing {_few(missing)}, "
            f"unexpected {_few(unexpected)}, mismatched {_few(mismatched)}"
        )


def load_strict(model: nn.Module, state: dict, source, target: str | None = None) -> None:
    """load_state_dict that fails, naming the keys, on any missing, unexpected or mis-shaped
    weight."""
    target = target or type(model).__name__
    expected = model.state_dict()
    mismatched = [
        k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)
    ]
    check_keys(source, target, set(expected) - set(state), set(state) - set(expected), mismatched)
    model.load_state_dict(state, strict=True)
