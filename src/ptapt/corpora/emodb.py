"""EmoDB (Berlin Database of Emotional Speech): 10 actors (5 female), 10 German sentences,
7 emotions, 16 kHz.

Release layout `wav/<spk><text><E><version>.wav`: speaker two digits, text code (a01..b10),
emotion letter W L E A F T N (Ärger anger, Langeweile boredom, Ekel disgust, Angst fear, Freude
happiness, Trauer sadness, neutral), version letter. 535 utterances: anger 127, boredom 81,
disgust 46, fear 69, happiness 71, sadness 62, neutral 79.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptapt.corpora.base import Corpus, Expected, LabelledFile, SynthFile, files_by_name

EMOTIONS = {"N": "neu", "F": "hap", "T": "sad", "W": "ang", "A": "fea", "E": "dis", "L": "bor"}
FEMALE = {"08", "09", "13", "14", "16"}
SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
LAYOUT = "expected ROOT/wav/<spk><text><E><version>.wav, e.g. wav/03a01Fa.wav"

_NAME = re.compile(r"(?P<spk>\d\d)(?P<text>[ab]\d\d)(?P<emo>[WLEAFTN])(?P<version>[a-z])\.wav")


def find(root: Path) -> list[LabelledFile]:
    return files_by_name(root, LAYOUT, _NAME, _describe)


def _describe(path: Path, match: re.Match) -> tuple[str, str, str]:
    return path.stem, EMOTIONS[match["emo"]], match["spk"]


def synthetic(preset: str) -> list[SynthFile]:
    speakers, texts = {"tiny": (4, 2), "demo": (10, 4)}[preset]
    return [
        SynthFile(f"wav/{spk}{text}{emo}a.wav", label, spk, "F" if spk in FEMALE else "M")
        for spk in SPEAKERS[:speakers]
        for text in TEXTS[:texts]
        for emo, label in EMOTIONS.items()
    ]


CORPUS = Corpus(
    name="emodb",
    labels=("neu", "hap", "sad", "ang", "fea", "dis", "bor"),
    find=find,
    layout=LAYOUT,
    sample_rate=16000,
    expected=Expected(
        total=535,
        per_label={"neu": 79, "hap": 71, "sad": 62, "ang": 127, "fea": 69, "dis": 46, "bor": 81},
        speakers=10,
    ),
    synthetic=synthetic,
)
