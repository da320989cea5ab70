"""SAVEE (Surrey Audio-Visual Expressed Emotion): 4 male speakers of British English, 7 emotions.

Release layout `AudioData/<DC|JE|JK|KL>/<code><nn>.wav`, codes a d f h n sa su; the widely
shared flattened copy `ALL/<SPK>_<code><nn>.wav` is read too. 480 utterances: per speaker 15
of each emotion and 30 neutral. 44.1 kHz.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptapt.corpora.base import Corpus, Expected, LabelledFile, SynthFile, files_by_name

CODES = {"n": "neu", "h": "hap", "sa": "sad", "a": "ang", "f": "fea", "d": "dis", "su": "sur"}
SPEAKERS = ("DC", "JE", "JK", "KL")
LAYOUT = "expected ROOT/AudioData/<DC|JE|JK|KL>/<code><nn>.wav or ROOT/ALL/<SPK>_<code><nn>.wav"

# AudioData/<SPK>/<code><nn>.wav, or the flattened copy's ALL/<SPK>_<code><nn>.wav
_NAME = re.compile(
    r"(?:(?P<spk>DC|JE|JK|KL)_)?(?P<code>sa|su|[adfhn])(?P<n>\d\d)\.wav", re.IGNORECASE
)


def find(root: Path) -> list[LabelledFile]:
    return files_by_name(root, LAYOUT, _NAME, _describe)


def _describe(path: Path, match: re.Match) -> tuple[str, str, str] | None:
    if match["spk"] is None and path.parent.name.upper() not in SPEAKERS:
        return None
    speaker = (match["spk"] or path.parent.name).upper()
    code = match["code"].lower()
    return f"{speaker}_{code}{match['n']}", CODES[code], speaker


def synthetic(preset: str) -> list[SynthFile]:
    per_emotion = {"tiny": 2, "demo": 8}[preset]
    return [
        SynthFile(f"AudioData/{spk}/{code}{n + 1:02d}.wav", label, spk, "M")
        for spk in SPEAKERS
        for code, label in CODES.items()
        for n in range(per_emotion * (2 if label == "neu" else 1))
    ]


CORPUS = Corpus(
    name="savee",
    labels=("neu", "hap", "sad", "ang", "fea", "dis", "sur"),
    find=find,
    layout=LAYOUT,
    sample_rate=44100,
    expected=Expected(
        total=480,
        per_label={"neu": 120, "hap": 60, "sad": 60, "ang": 60, "fea": 60, "dis": 60, "sur": 60},
        speakers=4,
    ),
    synthetic=synthetic,
    synthetic_channels=2,  # stereo, so downmixing is exercised end to end
)
