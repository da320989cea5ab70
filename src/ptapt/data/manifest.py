"""The manifest: one row per usable utterance, the single table every stage reads."""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

from ptapt.atomic import write_tsv
from ptapt.corpora.base import Corpus, LabelledFile, count_problems
from ptapt.data.audio import AudioProblem, read_native
from ptapt.errors import PtaptError
from ptapt.progress import progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    path: str
    label: str
    speaker: str
    group: str  # what loso-group folds hold out: IEMOCAP's session, otherwise the speaker
    duration_s: float
    sample_rate: int
    num_samples: int


COLUMNS = [f.name for f in fields(Utterance)]


def measure(files: Iterable[LabelledFile]) -> list[Utterance]:
    """Read every file once: a row for each usable one. Unusable files (unreadable, empty,
    truncated, non-finite, too short) are skipped and counted, one warning per problem."""
    rows, skipped = [], defaultdict(list)
    for f in progress(list(files), "checking audio", "file"):
        try:
            wav, sr = read_native(f.path)
        except AudioProblem as problem:
            skipped[problem.kind].append(str(problem))
            continue
        duration = len(wav) / sr
        rows.append(
            Utterance(f.utt_id, f.path, f.label, f.speaker, f.group, duration, sr, len(wav))
        )
    for kind, problems in skipped.items():
        log.warning("skipped %d %s audio file(s), e.g. %s", len(problems), kind, problems[0])
    return rows


def write_manifest(rows: Iterable[Utterance], path: str | os.PathLike) -> None:
    """Write rows sorted by utt_id as TSV, atomically."""
    ordered = sorted(rows, key=lambda r: r.utt_id)
    cells = ([f"{v:.4f}" if isinstance(v, float) else v for v in astuple(r)] for r in ordered)
    write_tsv(path, COLUMNS, cells)


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            missing = set(COLUMNS) - set(reader.fieldnames or [])
            if missing:
                raise PtaptError(f"{path}: not a manifest, missing columns {sorted(missing)}")
            return [_parse_row(row, path, n) for n, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise PtaptError(f"{path}: manifest not found") from None


def _parse_row(row: dict, path, line: int) -> Utterance:
    try:
        return Utterance(
            utt_id=row["utt_id"],
            path=row["path"],
            label=row["label"],
            speaker=row["speaker"],
            group=row["group"],
            duration_s=float(row["duration_s"]),
            sample_rate=int(row["sample_rate"]),
            num_samples=int(row["num_samples"]),
        )
    except (TypeError, ValueError) as err:
        raise PtaptError(f"{path}:{line}: malformed manifest row ({err})") from None


def count_table(rows: Sequence[Utterance], labels: Sequence[str]) -> str:
    """A group x label count table with totals, for logs and the terminal."""
    counts = Counter((r.group, r.label) for r in rows)
    groups = sorted({r.group for r in rows})
    lines = [["group", *labels, "total"]]
    for g in groups:
        per = [counts[(g, lab)] for lab in labels]
        lines.append([g, *map(str, per), str(sum(per))])
    totals = [sum(counts[(g, lab)] for g in groups) for lab in labels]
    lines.append(["all", *map(str, totals), str(sum(totals))])
    width = max(len(c) for line in lines for c in line)
    return "\n".join(" ".join(c.rjust(width) for c in line) for line in lines)


def from_corpus(corpus: Corpus, root) -> list[Utterance]:
    """The usable, labelled utterances of a corpus tree, sorted by utt_id."""
    rows = measure(corpus.find(Path(root)))
    if not rows:
        raise PtaptError(f"{root}: no labelled utterance with usable audio found; {corpus.layout}")
    duplicated = [u for u, n in Counter(r.utt_id for r in rows).items() if n > 1]
    if duplicated:
        raise PtaptError(f"{root}: utterance ids found more than once: {duplicated[:5]}")
    return sorted(rows, key=lambda r: r.utt_id)


def check_counts(corpus: Corpus, rows: Sequence[Utterance], root) -> None:
    """Fail unless the rows have the real release's counts."""
    problems = count_problems(rows, corpus.expected) if corpus.expected else []
    if problems:
        raise PtaptError(
            f"{root}: does not match the {corpus.name} release ({'; '.join(problems)}); "
            "pass --no-expect-counts for a modified or partial copy"
        )


def relabel(rows: Sequence[Utterance], labels: Sequence[str], label_map: dict) -> list[Utterance]:
    """Rows with `label_map` applied (a label mapped to None is dropped) and only the classes of
    `labels` kept; what is dropped is logged with its count."""
    mapped = [replace(r, label=label_map.get(r.label, r.label)) for r in rows]
    kept = [r for r in mapped if r.label in labels]
    dropped = Counter(str(r.label) for r in mapped if r.label not in labels)
    if dropped:
        log.info(
            "left out %d utterance(s) of classes outside %s: %s",
            sum(dropped.values()),
            list(labels),
            dict(dropped),
        )
    absent = [lab for lab in labels if lab not in {r.label for r in kept}]
    if absent:
        found = sorted({r.label for r in mapped})
        raise PtaptError(f"labels {absent} have no utterance; the corpus has {found}")
    return kept


def select(rows: Sequence[Utterance], ids: Sequence[str], source) -> list[Utterance]:
    """The manifest rows of `ids`, in that order; an id missing from the manifest is an error."""
    by_id = {r.utt_id: r for r in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise PtaptError(f"{source}: {len(missing)} id(s) not in the manifest, e.g. {missing[0]}")
    return [by_id[i] for i in ids]


def label_ids(rows: Sequence[Utterance], labels: Sequence[str]) -> list[int]:
    """Class index of every row in the configured label order."""
    index = {lab: k for k, lab in enumerate(labels)}
    unknown = sorted({r.label for r in rows} - set(index))
    if unknown:
        raise PtaptError(f"labels {unknown} are not in the configured label list {list(labels)}")
    return [index[r.label] for r in rows]
