"""CREMA-D: 91 actors, 6 emotions, 12 sentences, 16 kHz.

Release layout `AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav`, EMO in ANG DIS FEA HAP NEU SAD,
level LO MD HI XX. 7442 clips (neutral 1087, the others 1271 each). Copies in circulation hold
empty or unreadable files: the manifest skips each with a counted warning.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptapt.corpora.base import Corpus, Expected, LabelledFile, SynthFile, files_by_name

EMOTIONS = {"NEU": "neu", "HAP": "hap", "SAD": "sad", "ANG": "ang", "FEA": "fea", "DIS": "dis"}
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
LAYOUT = "expected ROOT/AudioWAV/<actor>_<sentence>_<EMO>_<level>.wav"

_NAME = re.compile(
    r"(?P<actor>\d{4})_(?P<sent>[A-Z]{3})_(?P<emo>[A-Z]{3})_(?P<level>[A-Z]{1,2})\.wav"
)


def find(root: Path) -> list[LabelledFile]:
    return files_by_name(root, LAYOUT, _NAME, _describe)


def _describe(path: Path, match: re.Match) -> tuple[str, str, str] | None:
    if match["emo"] not in EMOTIONS:
        return None
    return path.stem, EMOTIONS[match["emo"]], match["actor"]


def synthetic(preset: str) -> list[SynthFile]:
    """Every emotion of a few sentences per actor, and one empty file (copies in circulation
    hold some) for the manifest's counted skip."""
    actors, sentences = {"tiny": (4, 2), "demo": (8, 4)}[preset]
    files = []
    for k in range(actors):
        actor = f"{1001 + k}"
        sex = "F" if k % 2 else "M"
        for sentence in SENTENCES[:sentences]:
            for emo, label in EMOTIONS.items():
                level = "XX" if emo == "NEU" else "MD"
                path = f"AudioWAV/{actor}_{sentence}_{emo}_{level}.wav"
                files.append(SynthFile(path, label, actor, sex))
    files.append(SynthFile("AudioWAV/1001_WSI_SAD_XX.wav", "sad", "1001", "M", empty=True))
    return files


CORPUS = Corpus(
    name="cremad",
    labels=("neu", "hap", "sad", "ang", "fea", "dis"),
    find=find,
    layout=LAYOUT,
    sample_rate=16000,
    expected=Expected(
        total=7442,
        per_label={"neu": 1087, **{lab: 1271 for lab in ("hap", "sad", "ang", "fea", "dis")}},
        speakers=91,
    ),
    synthetic=synthetic,
)
