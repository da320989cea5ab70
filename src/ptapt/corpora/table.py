"""Your own corpus: a CSV or TSV file with `path,label,speaker` and an optional `group` column.

Paths are relative to the table's folder; `root` is the table file itself. Labels are taken as
written: name the classes in the dataset's `labels` and merge or rename them with `label_map`.
A `.tsv` file is tab-separated, anything else comma-separated.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ptapt.corpora.base import Corpus, LabelledFile
from ptapt.errors import PtaptError

REQUIRED = ("path", "label", "speaker")
LAYOUT = "expected a CSV/TSV file with columns path,label,speaker[,group], paths relative to it"


def find(root: Path) -> list[LabelledFile]:
    table = Path(root)
    if not table.is_file():
        raise PtaptError(f"{table}: not a file; {LAYOUT}")
    delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
    with open(table, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise PtaptError(f"{table}: missing column(s) {missing}; {LAYOUT}")
        return [_row(table, line, row) for line, row in enumerate(reader, start=2)]


def _row(table: Path, line: int, row: dict) -> LabelledFile:
    empty = [c for c in REQUIRED if not (row.get(c) or "").strip()]
    if empty:
        raise PtaptError(f"{table}:{line}: empty {', '.join(empty)}")
    relative = row["path"].strip()
    speaker = row["speaker"].strip()
    group = (row.get("group") or "").strip() or speaker
    utt_id = str(Path(relative).with_suffix(""))
    return LabelledFile(utt_id, str(table.parent / relative), row["label"].strip(), speaker, group)


CORPUS = Corpus(name="table", labels=(), find=find, layout=LAYOUT, sample_rate=0)
