"""RAVDESS, speech part: 24 actors (odd numbers male), 8 emotions, 48 kHz.

Release layout `Actor_XX/03-01-EE-II-SS-RR-AA.wav`: modality (03 audio-only), vocal channel (01
speech, 02 song), emotion 01-08, intensity, statement, repetition, actor. Song and video files
are not rows. 1440 files: per actor 4 neutral (no strong intensity) and 8 of each other emotion.
"""

from __future__ import annotations

import re
from pathlib import Path

from ptapt.corpora.base import Corpus, Expected, LabelledFile, SynthFile, files_by_name

EMOTIONS = {
    "01": "neu",
    "02": "cal",
    "03": "hap",
    "04": "sad",
    "05": "ang",
    "06": "fea",
    "07": "dis",
    "08": "sur",
}
LAYOUT = "expected ROOT/Actor_XX/03-01-EE-II-SS-RR-AA.wav (the Audio_Speech_Actors_01-24 archive)"

_NAME = re.compile(
    r"(?P<mod>\d\d)-(?P<chan>\d\d)-(?P<emo>0[1-8])-(?P<int>0[12])-(?P<stmt>0[12])-(?P<rep>0[12])-(?P<actor>\d\d)\.wav"
)


def find(root: Path) -> list[LabelledFile]:
    return files_by_name(root, LAYOUT, _NAME, _describe)


def _describe(path: Path, match: re.Match) -> tuple[str, str, str] | None:
    if match["mod"] != "03" or match["chan"] != "01":
        return None  # song (channel 02) and video renditions are not speech rows
    return path.stem, EMOTIONS[match["emo"]], f"Actor_{match['actor']}"


def synthetic(preset: str) -> list[SynthFile]:
    """Every emotion and intensity of statement 01, repetition 01 (of 2 x 2 in the release),
    plus one song file per actor that the parser must leave out."""
    actors = {"tiny": 4, "demo": 8}[preset]
    repetitions = {"tiny": ("01",), "demo": ("01", "02")}[preset]
    files = []
    for actor in range(1, actors + 1):
        sex = "M" if actor % 2 else "F"
        for emo, label in EMOTIONS.items():
            for intensity in ("01",) if emo == "01" else ("01", "02"):
                for rep in repetitions:
                    name = f"03-01-{emo}-{intensity}-01-{rep}-{actor:02d}.wav"
                    files.append(
                        SynthFile(f"Actor_{actor:02d}/{name}", label, f"Actor_{actor:02d}", sex)
                    )
        song = f"03-02-03-01-01-01-{actor:02d}.wav"
        files.append(
            SynthFile(f"Actor_{actor:02d}/{song}", "hap", f"Actor_{actor:02d}", sex, not_a_row=True)
        )
    return files


CORPUS = Corpus(
    name="ravdess",
    labels=("neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"),
    find=find,
    layout=LAYOUT,
    sample_rate=48000,
    expected=Expected(
        total=1440,
        per_label={
            "neu": 96,
            **{lab: 192 for lab in ("cal", "hap", "sad", "ang", "fea", "dis", "sur")},
        },
        speakers=24,
    ),
    synthetic=synthetic,
    synthetic_channels=2,  # stereo, so downmixing is exercised end to end
)
