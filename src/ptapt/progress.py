"""Progress of long work: a live bar on a terminal, a plain periodic line in a job's log.

A Snakemake or SLURM log is not a terminal; carriage-return bars pile up there as one unreadable
line, so off a terminal the same loop logs `desc: done/total unit (rate/s, ETA)` every
`LOG_EVERY_S` seconds instead.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator

from tqdm import tqdm

log = logging.getLogger("ptapt.progress")

LOG_EVERY_S = 30.0


def progress(items: Iterable, desc: str, unit: str = "it", total: int | None = None, initial=0):
    """Iterate `items` showing progress; the result also has `set_postfix(**kv)` and `close()`."""
    if sys.stderr.isatty():
        return tqdm(items, desc=desc, unit=unit, total=total, initial=initial, mininterval=1.0)
    return PlainProgress(items, desc, unit, total, initial)


class PlainProgress:
    def __init__(self, items: Iterable, desc: str, unit: str, total: int | None, initial: int):
        self.items, self.desc, self.unit, self.initial = items, desc, unit, initial
        self.total = total if total is not None else _length(items, initial)
        self.postfix: dict = {}

    def __iter__(self) -> Iterator:
        start = last = time.monotonic()
        done = self.initial
        for item in self.items:
            yield item
            done += 1
            now = time.monotonic()
            if now - last >= LOG_EVERY_S:
                last = now
                log.info(self.line(done, (done - self.initial) / (now - start)))

    def line(self, done: int, rate: float) -> str:
        text = f"{self.desc}: {done}"
        if self.total:
            eta = (self.total - done) / rate if rate > 0 else float("inf")
            text += f"/{self.total} ({100 * done / self.total:.0f} %)"
        text += f" {self.unit}, {rate:.3g} {self.unit}/s"
        if self.total:
            text += f", ETA {_clock(eta)}"
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        return text + extra

    def set_postfix(self, refresh: bool = True, **values) -> None:
        self.postfix = values

    def close(self) -> None:
        pass


def _length(items, initial: int) -> int | None:
    try:
        return initial + len(items)
    except TypeError:
        return None


def _clock(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"
