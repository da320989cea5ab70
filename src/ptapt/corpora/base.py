"""What a corpus module provides, and the steps every corpus shares.

A corpus module finds the labelled audio files of its release's directory tree (no audio is read
there) and knows the release's label set, layout, sample rate and counts. Everything here is
standard library only, so the workflow can read the registry without the training stack.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ptapt.errors import PtaptError

# Canonical three-letter labels, in the order tables and model heads use them.
CANONICAL = ("neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur", "bor")


@dataclass(frozen=True)
class LabelledFile:
    """An audio file and its label, before the audio is read."""

    utt_id: str
    path: str
    label: str
    speaker: str
    group: str  # what loso-group folds hold out: IEMOCAP's session, otherwise the speaker


@dataclass(frozen=True)
class Expected:
    """Counts of the real release: a mismatch means a broken, partial or modified copy."""

    total: int
    per_label: dict[str, int]
    speakers: int
    per_group: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SynthFile:
    """One file of a synthetic corpus in a corpus's layout."""

    path: str  # relative to the corpus root
    label: str  # canonical label it is spoken with
    speaker: str
    sex: str  # "F" or "M"
    empty: bool = False  # a header and no samples, as damaged copies of real corpora hold
    not_a_row: bool = False  # a file of the release that is no utterance (RAVDESS's songs)


@dataclass(frozen=True)
class Corpus:
    name: str
    labels: tuple[str, ...]  # native label set as canonical codes, in table order
    find: Callable[[Path], list[LabelledFile]]
    layout: str  # where the files live, for error messages
    sample_rate: int  # of the release
    expected: Expected | None = None
    # preset ("tiny" or "demo") -> files of a synthetic corpus in this layout
    synthetic: Callable[[str], list[SynthFile]] | None = None
    synthetic_channels: int = 1


def require_dir(root: Path, layout: str) -> Path:
    if not root.is_dir():
        raise PtaptError(f"{root}: corpus root does not exist; {layout}")
    return root


def audio_files(root: Path, suffixes: tuple[str, ...] = (".wav",)) -> list[Path]:
    """Every file below `root` with one of `suffixes` (any case), without macOS `._*`
    AppleDouble files, in path order."""
    return sorted(
        p
        for p in Path(root).rglob("*")
        if p.suffix.lower() in suffixes and not p.name.startswith("._") and p.is_file()
    )


# A corpus's reading of one file name: (utt_id, label, speaker), or None when the file is no row.
Describe = Callable[[Path, re.Match], "tuple[str, str, str] | None"]


def files_by_name(root: Path, layout: str, pattern: re.Pattern, describe: Describe) -> list:
    """A LabelledFile (group = speaker) for every audio file below `root` whose name matches
    `pattern` and that `describe` makes a row of: the parser of every corpus whose labels are in
    its file names."""
    files = []
    for path in audio_files(require_dir(Path(root), layout)):
        match = pattern.fullmatch(path.name)
        row = describe(path, match) if match else None
        if row is not None:
            utt_id, label, speaker = row
            files.append(LabelledFile(utt_id, str(path), label, speaker, speaker))
    return files


def count_problems(rows, expected: Expected) -> list[str]:
    """How the rows' counts differ from the release's."""
    labels = Counter(r.label for r in rows)
    groups = Counter(r.group for r in rows)
    problems = []
    if len(rows) != expected.total:
        problems.append(f"{len(rows)} utterances instead of {expected.total}")
    problems += [
        f"{lab}: {labels[lab]} instead of {n}"
        for lab, n in expected.per_label.items()
        if labels[lab] != n
    ]
    speakers = len({r.speaker for r in rows})
    if speakers != expected.speakers:
        problems.append(f"{speakers} speakers instead of {expected.speakers}")
    problems += [
        f"{g}: {groups[g]} instead of {n}" for g, n in expected.per_group.items() if groups[g] != n
    ]
    return problems
