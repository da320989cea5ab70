"""The corpus registry: one module per corpus, one line here.

A new corpus is a module exposing `CORPUS` (a `ptapt.corpora.base.Corpus`: its native labels, a
`find(root)` that lists the labelled files of its layout, its counts and a synthetic layout),
one entry below, and a test.
"""

from __future__ import annotations

from ptapt.corpora import cremad, emodb, iemocap, ravdess, savee, table, tess
from ptapt.corpora.base import CANONICAL, Corpus
from ptapt.errors import PtaptError

CORPORA: dict[str, Corpus] = {
    module.CORPUS.name: module.CORPUS
    for module in (iemocap, savee, ravdess, cremad, tess, emodb, table)
}

__all__ = ["CANONICAL", "CORPORA", "corpus"]


def corpus(name: str) -> Corpus:
    try:
        return CORPORA[name]
    except KeyError:
        raise PtaptError(f"unknown corpus {name!r}; choose from {sorted(CORPORA)}") from None
