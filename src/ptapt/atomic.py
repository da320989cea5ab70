"""Atomic artifact writing: a killed job never leaves a file that looks complete, and a write
that fails (read-only directory, full disk) is one line naming the file, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safetensors import SafetensorError

from ptapt.errors import PtaptError


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OS or safetensors write failure inside the block into a PtaptError naming `path`."""
    try:
        yield
    except OSError as err:
        raise PtaptError(f"{path}: cannot write ({err.strerror or err})") from None
    except SafetensorError as err:  # safetensors reports a full disk as its own error
        raise PtaptError(f"{path}: cannot write ({err})") from None


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name keeps the final suffix (or `suffix`), so libraries that choose a format
    by extension (numpy, soundfile, safetensors) behave as with the final name.
    """
    target = Path(path)
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=suffix or target.suffix
        )
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.replace(tmp_path, target)
        finally:
            tmp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_lines(path: str | os.PathLike, lines) -> None:
    write_text(path, "".join(f"{line}\n" for line in lines))


def write_tsv(path: str | os.PathLike, header: list[str], rows) -> None:
    """A header and rows of cells as tab-separated values."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Rows of dicts as CSV; columns in order of first appearance."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
