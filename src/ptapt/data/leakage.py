"""Leakage guard: no training artifact of a fold may have seen that fold's test utterances.

Checks every `train_ids.txt` and stage-2 `pseudo_labels.npz` under results/{dataset}/, in the
dataset's own directories and its experiments', against the test ids of the fold named by
the nearest `fold<N>` directory above it; an artifact under no fold directory (a backbone
pretrained for the whole dataset) against every fold's test ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.errors import PtaptError

FOLD_DIR = re.compile(r"fold(\d+)")


def trained_ids(path: Path) -> set[str]:
    if path.suffix == ".npz":
        return set(PseudoLabels(path).ids)
    return set(path.read_text().split())


def check(dataset_dir: str | Path) -> list[str]:
    """One line per artifact checked; raises on the first artifact that saw test audio."""
    root = Path(dataset_dir)
    fold_files = sorted((root / "folds").glob("fold*.json"))
    if not fold_files:
        raise PtaptError(f"{root}/folds: no fold files to check against")
    test = {f.stem: set(json.loads(f.read_text())["test"]) for f in fold_files}
    all_test = set().union(*test.values())
    artifacts = sorted([*root.rglob("train_ids.txt"), *root.rglob("pseudo_labels.npz")])
    report = []
    for artifact in artifacts:
        fold = _fold_of(artifact.relative_to(root))
        if fold is not None and fold not in test:
            raise PtaptError(f"{artifact}: no fold file {root}/folds/{fold}.json to check it")
        report.append(_check_one(artifact, all_test if fold is None else test[fold]))
    return report


def _fold_of(relative: Path) -> str | None:
    """The innermost fold<N> directory of an artifact's path, if any."""
    folds = [part for part in relative.parent.parts if FOLD_DIR.fullmatch(part)]
    return folds[-1] if folds else None


def _check_one(artifact: Path, test: set[str]) -> str:
    ids = trained_ids(artifact)
    leaked = sorted(ids & test)
    if leaked:
        raise PtaptError(
            f"{artifact}: trained on {len(leaked)} test utterance(s), e.g. {leaked[0]}"
        )
    return f"ok {artifact} ({len(ids)} ids, none of {len(test)} test ids)"
