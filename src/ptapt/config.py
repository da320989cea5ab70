"""Stage configurations: dataclasses whose defaults are the reference values.

The workflow passes each stage its config section as JSON; keys not in the dataclass are an
error rather than silently ignored. workflow/schemas/config.schema.yaml documents the same keys
with the same defaults (a test keeps the two equal).
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import TypeVar

from ptapt.errors import PtaptError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict | None, where: str) -> T:
    data = dict(data or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PtaptError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    return cls(**data)


def parse_json(text: str, where: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise PtaptError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise PtaptError(f"{where}: expected a JSON object")
    return value


def steps_of(value: float, total: int) -> int:
    """A schedule length given as a share of `total` (below 1) or as a step count (1 or more)."""
    return int(round(value * total)) if value < 1 else int(value)
