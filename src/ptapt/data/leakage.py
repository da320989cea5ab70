"""Leakage guard: no training artifact of a fold may have seen that fold's test utterances.

Checks every `train_ids.txt` under results/{dataset}/fold{f}/ and every stage-2
`pseudo_labels.npz` against the fold's test ids, and a dataset-wide backbone's training ids
against every fold's test ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ptapt.errors import PtaptError


def trained_ids(path: Path) -> set[str]:
    if path.suffix == ".npz":
        with np.load(path) as npz:
            return set(npz["utt_ids"].tolist())
    return set(path.read_text().split())


def check(dataset_dir: str | Path) -> list[str]:
    """One line per artifact checked; raises on the first artifact that saw test audio."""
    root = Path(dataset_dir)
    fold_files = sorted((root / "folds").glob("fold*.json"))
    if not fold_files:
        raise PtaptError(f"{root}/folds: no fold files to check against")
    report, all_test = [], set()
    for fold_file in fold_files:
        test = set(json.loads(fold_file.read_text())["test"])
        all_test |= test
        fold_dir = root / fold_file.stem
        artifacts = [*fold_dir.rglob("train_ids.txt"), *fold_dir.rglob("pseudo_labels.npz")]
        for artifact in sorted(artifacts):
            report.append(_check_one(artifact, test))
    backbone = root / "backbone" / "train_ids.txt"
    if backbone.exists():
        report.append(_check_one(backbone, all_test))
    return report


def _check_one(artifact: Path, test: set[str]) -> str:
    ids = trained_ids(artifact)
    leaked = sorted(ids & test)
    if leaked:
        raise PtaptError(
            f"{artifact}: trained on {len(leaked)} test utterance(s), e.g. {leaked[0]}"
        )
    return f"ok {artifact} ({len(ids)} ids, none of {len(test)} test ids)"
