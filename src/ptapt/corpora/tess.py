"""TESS (Toronto emotional speech set): 2 actresses (OAF aged 64, YAF aged 26), 200 target
words in the carrier phrase "Say the word ...", 7 emotions, 24,414 Hz.

Files are `<folder>/<OAF|YAF>_<word>_<emotion>.wav`, emotion in angry disgust fear happy neutral
ps sad (ps: pleasant surprise -> sur). Folder names and case are inconsistent across the
release (`OAF_Fear`, `YAF_pleasant_surprised`), so only the file name is parsed. 2800 files,
400 per emotion.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptapt.corpora.base import Corpus, Expected, LabelledFile, SynthFile, files_by_name

EMOTIONS = {
    "neutral": "neu",
    "happy": "hap",
    "sad": "sad",
    "angry": "ang",
    "fear": "fea",
    "disgust": "dis",
    "ps": "sur",
}
LAYOUT = "expected ROOT/<folder>/<OAF|YAF>_<word>_<emotion>.wav"
FOLDERS = {  # the release's own spelling of its folders
    "neutral": "neutral",
    "happy": "happy",
    "sad": "Sad",
    "angry": "angry",
    "fear": "Fear",
    "disgust": "disgust",
    "ps": "pleasant_surprised",
}
WORDS = ("back", "bar", "base", "bath", "bean", "beg", "bite", "boat", "bone", "book")

_NAME = re.compile(r"(?P<spk>OAF|YAF)_(?P<word>[A-Za-z]+)_(?P<emo>[A-Za-z]+)\.wav", re.IGNORECASE)


def find(root: Path) -> list[LabelledFile]:
    return files_by_name(root, LAYOUT, _NAME, _describe)


def _describe(path: Path, match: re.Match) -> tuple[str, str, str] | None:
    emotion = match["emo"].lower()
    if emotion not in EMOTIONS:
        return None
    speaker = match["spk"].upper()
    return f"{speaker}_{match['word'].lower()}_{emotion}", EMOTIONS[emotion], speaker


def synthetic(preset: str) -> list[SynthFile]:
    words = WORDS[: {"tiny": 4, "demo": 10}[preset]]
    return [
        SynthFile(f"{spk}_{FOLDERS[emo]}/{spk}_{word}_{emo}.wav", label, spk, "F")
        for spk in ("OAF", "YAF")
        for emo, label in EMOTIONS.items()
        for word in words
    ]


CORPUS = Corpus(
    name="tess",
    labels=("neu", "hap", "sad", "ang", "fea", "dis", "sur"),
    find=find,
    layout=LAYOUT,
    sample_rate=24414,
    expected=Expected(total=2800, per_label={lab: 400 for lab in EMOTIONS.values()}, speakers=2),
    synthetic=synthetic,
    synthetic_channels=2,  # stereo, so downmixing is exercised end to end
)
