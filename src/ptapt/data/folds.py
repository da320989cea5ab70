"""Cross-validation folds: the test set of a fold is one whole session (or speaker).

A fold file holds sorted `train`, `valid` and `test` utterance id lists. `valid` is a seeded,
label-stratified share of the training utterances (empty by default, as in the paper), so every
method fine-tuned on a fold sees the same split.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sklearn.model_selection import train_test_split

from ptapt.atomic import write_json
from ptapt.data.manifest import Utterance
from ptapt.errors import PtaptError

SCHEMES = {
    "loso-session": lambda u: u.session,  # leave one session out (IEMOCAP)
    "loso-speaker": lambda u: u.speaker,  # leave one speaker out (SAVEE, RAVDESS, ...)
}


@dataclass(frozen=True)
class Fold:
    fold: int
    scheme: str
    held_out: str
    valid_share: float
    seed: int
    train: list[str]
    valid: list[str]
    test: list[str]


def make_folds(
    rows: Sequence[Utterance], scheme: str = "loso-session", valid_share: float = 0.0, seed: int = 0
) -> list[Fold]:
    """One fold per group of `scheme`, numbered 1.. in sorted group order."""
    if scheme not in SCHEMES:
        raise PtaptError(f"unknown fold scheme {scheme!r}; choose from {sorted(SCHEMES)}")
    if not 0.0 <= valid_share < 1.0:
        raise PtaptError(f"valid share must be in [0, 1), got {valid_share}")
    group_of = SCHEMES[scheme]
    groups = sorted({group_of(u) for u in rows})
    if len(groups) < 2:
        raise PtaptError(f"scheme {scheme} needs at least 2 groups, found {groups}")
    folds = []
    for number, group in enumerate(groups, start=1):
        test = sorted(u.utt_id for u in rows if group_of(u) == group)
        rest = [u for u in rows if group_of(u) != group]
        train, valid = split_share(rest, valid_share, seed + number)
        folds.append(Fold(number, scheme, str(group), valid_share, seed, train, valid, test))
    return folds


def split_share(rows: Sequence[Utterance], share: float, seed: int) -> tuple[list, list]:
    """Sorted (kept, held-out) utterance ids, holding out a label-stratified `share`; a share
    too small to hold out one utterance of every class is an error naming the key."""
    ids = sorted(u.utt_id for u in rows)
    if share == 0.0:
        return ids, []
    label = {u.utt_id: u.label for u in rows}
    classes = Counter(label.values())
    held = math.ceil(share * len(ids))  # how scikit-learn rounds a fractional test size
    rare = sorted(c for c, n in classes.items() if n < 2)
    if held < len(classes) or len(ids) - held < len(classes) or rare:
        raise PtaptError(
            f"config split.valid_share: {share} holds out {held} of {len(ids)} training "
            f"utterances, which cannot give each of the {len(classes)} classes "
            f"{sorted(classes)} a validation and a training utterance"
            + (f" (classes with one utterance: {rare})" if rare else "")
        )
    train, valid = train_test_split(
        ids, test_size=held, random_state=seed, stratify=[label[i] for i in ids]
    )
    return sorted(train), sorted(valid)


def write_fold(fold: Fold, path: str | os.PathLike) -> None:
    write_json(path, asdict(fold))


def read_fold(path: str | os.PathLike) -> Fold:
    try:
        with open(path, encoding="utf-8") as fh:
            return Fold(**json.load(fh))
    except FileNotFoundError:
        raise PtaptError(f"{path}: fold file not found") from None
    except (json.JSONDecodeError, TypeError) as err:
        raise PtaptError(f"{path}: not a fold file ({err})") from None
