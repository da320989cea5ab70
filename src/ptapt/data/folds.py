"""Cross-validation folds: one group (IEMOCAP's session) or speaker held out per fold, speakers
dealt into k folds, or EmoBox's published fold files.

A fold file holds sorted `train`, `valid` and `test` utterance id lists and whether the fold is
speaker-independent. `valid` is a seeded, label-stratified share of the training utterances
(empty by default, as in the paper), so every method fine-tuned on a fold sees the same split.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from ptapt.atomic import write_json
from ptapt.data.manifest import Utterance
from ptapt.errors import PtaptError

log = logging.getLogger(__name__)

# Schemes that hold out one group per fold: its utterances are the test set.
GROUP_SCHEMES = {
    "loso-session": lambda u: u.group,  # IEMOCAP's session; other corpora's speaker
    "loso-speaker": lambda u: u.speaker,
}
SCHEMES = (*GROUP_SCHEMES, "speaker-kfold", "splits-dir")


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
    speaker_independent: bool | None = None  # no speaker in both train and test
    train_share: float = 1.0  # share of the training utterances kept in `train`
    train_audio: list[str] | None = (
        None  # training audio of unlabelled stages (TAPT) if not `train`
    )

    def unlabelled_train(self) -> list[str]:
        """The audio TAPT continues pretraining on."""
        return self.train if self.train_audio is None else self.train_audio


def make_folds(
    rows: Sequence[Utterance],
    scheme: str = "loso-session",
    valid_share: float = 0.0,
    seed: int = 0,
    k: int = 5,
    splits_dir: str | None = None,
) -> list[Fold]:
    """The folds of `scheme`, numbered from 1: groups in sorted order (loso-*), the splits of a
    seeded speaker-grouped stratified k-fold (speaker-kfold), or EmoBox's fold files."""
    if scheme not in SCHEMES:
        raise PtaptError(f"unknown fold scheme {scheme!r}; choose from {list(SCHEMES)}")
    if not 0.0 <= valid_share < 1.0:
        raise PtaptError(f"valid share must be in [0, 1), got {valid_share}")
    if scheme in GROUP_SCHEMES:
        partitions = _group_partitions(rows, scheme)
    elif scheme == "speaker-kfold":
        partitions = _speaker_kfold(rows, k, seed)
    else:
        partitions = read_splits(rows, splits_dir)
    folds = []
    for number, (held_out, pool, test) in enumerate(partitions, start=1):
        train, valid = split_share(pool, valid_share, seed + number)
        shared = {u.speaker for u in pool} & {u.speaker for u in test}
        test_ids = sorted(u.utt_id for u in test)
        folds.append(
            Fold(number, scheme, held_out, valid_share, seed, train, valid, test_ids, not shared)
        )
    return folds


def keep_share(fold: Fold, share: float, subset_stages: str = "labelled") -> Fold:
    """The fold with a seeded random `share` of its training ids, nested across shares: every
    share keeps a prefix of one permutation of the fold's training ids."""
    if share >= 1.0:
        return fold
    order = np.random.default_rng([fold.seed, fold.fold]).permutation(fold.train)
    kept = sorted(order[: math.ceil(share * len(order))].tolist())
    audio = fold.train if subset_stages == "labelled" else kept
    return replace(fold, train=kept, train_share=share, train_audio=audio)


def _group_partitions(rows: Sequence[Utterance], scheme: str) -> list[tuple]:
    group_of = GROUP_SCHEMES[scheme]
    groups = sorted({group_of(u) for u in rows})
    if len(groups) < 2:
        raise PtaptError(f"scheme {scheme} needs at least 2 groups, found {groups}")
    return [
        (str(g), [u for u in rows if group_of(u) != g], [u for u in rows if group_of(u) == g])
        for g in groups
    ]


def _speaker_kfold(rows: Sequence[Utterance], k: int, seed: int) -> list[tuple]:
    """Speakers dealt into k folds, keeping each fold's label shares close to the whole's."""
    speakers = sorted({u.speaker for u in rows})
    if len(speakers) < k:
        raise PtaptError(
            f"config split.k: {k} folds need at least {k} speakers, found {len(speakers)}"
        )
    ordered = sorted(rows, key=lambda u: u.utt_id)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    labels = [u.label for u in ordered]
    partitions = []
    for train_idx, test_idx in splitter.split(ordered, labels, [u.speaker for u in ordered]):
        test = [ordered[i] for i in test_idx]
        held = ",".join(sorted({u.speaker for u in test}))
        partitions.append((f"speakers {held}", [ordered[i] for i in train_idx], test))
    return partitions


def read_splits(rows: Sequence[Utterance], splits_dir: str | None) -> list[tuple]:
    """EmoBox's published folds: `fold_<n>/{train,test}.jsonl` (keys `key`, `wav`, `emo`, ...).
    A record is matched to a manifest row by its key, its key without the `<dataset>-` prefix,
    or its wav's file name; manifest rows in neither list are in no fold."""
    if not splits_dir or not Path(splits_dir).is_dir():
        raise PtaptError(f"config split.dir: {splits_dir!r} is not a directory of fold_<n>/")
    fold_dirs = sorted(Path(splits_dir).glob("fold_*"), key=lambda p: int(p.name[5:] or 0))
    if not fold_dirs:
        raise PtaptError(f"{splits_dir}: no fold_<n>/ folders (EmoBox's data/<corpus>/ layout)")
    by_id = {u.utt_id: u for u in rows}
    partitions = []
    for fold_dir in fold_dirs:
        train, test = (_split_rows(fold_dir / f"{part}.jsonl", by_id) for part in ("train", "test"))
        partitions.append((fold_dir.name, train, test))
    return partitions


def _split_rows(path: Path, by_id: dict) -> list[Utterance]:
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as err:
        raise PtaptError(f"{path}: cannot read EmoBox split ({err})") from None
    found, unmatched = [], []
    for record in records:
        utt_id = next((c for c in _candidate_ids(record) if c in by_id), None)
        (found.append(by_id[utt_id]) if utt_id else unmatched.append(record.get("key")))
    if unmatched:
        log.warning(
            "%s: %d record(s) match no manifest utterance, e.g. %s",
            path,
            len(unmatched),
            unmatched[0],
        )
    if not found:
        raise PtaptError(f"{path}: no record matches an utterance of the manifest")
    return found


def _candidate_ids(record: dict) -> list[str]:
    key, wav = str(record.get("key", "")), Path(str(record.get("wav", "")))
    return [key, key.split("-", 1)[-1], wav.stem, f"{wav.parent.name}_{wav.stem}"]


def split_share(
    rows: Sequence[Utterance], share: float, seed: int, key: str = "split.valid_share"
) -> tuple[list, list]:
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
            f"config {key}: {share} holds out {held} of {len(ids)} training "
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
