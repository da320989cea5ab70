"""IEMOCAP_full_release: the four-class utterance set used across the SER literature.

Labels come from the header lines of the top-level `Session*/dialog/EmoEvaluation/*.txt` files
only (`[t0 - t1]<TAB>utt_id<TAB>label<TAB>[v, a, d]`); the per-annotator subfolders are never read.
neu, hap, exc, ang and sad are kept, exc merged into hap.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ptapt.corpora.base import Corpus, Expected, LabelledFile
from ptapt.errors import PtaptError

log = logging.getLogger(__name__)

LABELS = ("neu", "hap", "ang", "sad")
LABEL_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}

# The counts of the real release (5531 utterances, 10 speakers).
EXPECTED = Expected(
    total=5531,
    per_label={"neu": 1708, "hap": 1636, "ang": 1103, "sad": 1084},
    speakers=10,
    per_group={
        f"Session{n}": count for n, count in enumerate((1085, 1023, 1151, 1031, 1241), start=1)
    },
)

LAYOUT = (
    "expected the IEMOCAP_full_release layout: "
    "ROOT/Session{1..5}/dialog/EmoEvaluation/<dialog>.txt "
    "and ROOT/Session{1..5}/sentences/wav/<dialog>/<utt_id>.wav"
)

_HEADER = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\t(\S+)\t(\S+)\t\[")
_UTT_ID = re.compile(r"^Ses(\d\d)[FM]_.+_([FM])\d+$")
# Every category token of the release (xxx: no majority); a token outside it is a damaged line.
CATEGORIES = {"neu", "hap", "exc", "ang", "sad", "fru", "fea", "sur", "dis", "oth", "xxx"}


def speaker_of(utt_id: str) -> tuple[str, int]:
    """(speaker, session) of an utterance id: the speaker's letter starts its last `_` token.

    Ses03M_impro05b_F012 is spoken by the female actor of session 3 -> ("Ses03F", 3). The dialog
    prefix (Ses03M) names who wore the markers, not who speaks; fixed character offsets break on
    dialog names such as impro05b or script01_1b.
    """
    match = _UTT_ID.match(utt_id)
    if not match:
        raise ValueError(f"not an IEMOCAP utterance id: {utt_id!r}")
    session = int(match.group(1))
    return f"Ses{session:02d}{match.group(2)}", session


def read_labels(eval_file: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(utt_id, raw label) of every header line of one dialog's evaluation file, and a problem
    for each header-like line (starting with `[`) that is damaged."""
    text = eval_file.read_text(encoding="utf-8", errors="replace")
    pairs, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):  # also ends CRLF and CR lines
        if not line.startswith("["):
            continue
        match = _HEADER.match(line)
        where = f"{eval_file}:{number}"
        if not match or float(match.group(2)) < float(match.group(1)):
            problems.append(f"{where}: malformed header line {line[:60]!r}")
        elif match.group(4) not in CATEGORIES:
            problems.append(f"{where}: unknown category {match.group(4)!r}")
        else:
            pairs.append((match.group(3), match.group(4)))
    return pairs, problems


def session_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise PtaptError(f"{root}: corpus root does not exist; {LAYOUT}")
    sessions = sorted(p for p in root.glob("Session[1-5]") if p.is_dir())
    found = [p for p in sessions if (p / "dialog" / "EmoEvaluation").is_dir()]
    for lost in sorted(set(sessions) - set(found)):
        log.warning("%s: no dialog/EmoEvaluation folder; none of its utterances is kept", lost)
    if not found:
        raise PtaptError(f"{root}: no Session*/dialog/EmoEvaluation folder; {LAYOUT}")
    return found


def find(root: Path) -> list[LabelledFile]:
    """Every kept, labelled utterance whose wav exists."""
    files, missing, damaged = [], [], []
    for session_dir in session_dirs(Path(root)):
        for eval_file in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
            if eval_file.name.startswith("._"):  # macOS AppleDouble junk shipped in some copies
                continue
            pairs, problems = read_labels(eval_file)
            damaged += problems
            for utt_id, raw in pairs:
                if raw not in LABEL_MAP:
                    continue
                wav = session_dir / "sentences" / "wav" / eval_file.stem / f"{utt_id}.wav"
                if wav.is_file():
                    files.append(_labelled(utt_id, LABEL_MAP[raw], wav, eval_file))
                else:
                    missing.append(str(wav))
    _warn(damaged, "damaged EmoEvaluation header line(s)")
    _warn(missing, "labelled utterance(s) whose wav is missing")
    return files


def _warn(problems: list[str], what: str) -> None:
    if problems:
        log.warning("skipped %d %s, e.g. %s", len(problems), what, problems[0])


def _labelled(utt_id: str, label: str, wav: Path, eval_file: Path) -> LabelledFile:
    try:
        speaker, session = speaker_of(utt_id)
    except ValueError as err:
        raise PtaptError(f"{eval_file}: {err}") from None
    return LabelledFile(utt_id, str(wav), label, speaker, f"Session{session}")


CORPUS = Corpus(
    name="iemocap",
    labels=LABELS,
    find=find,
    layout=LAYOUT,
    sample_rate=16000,
    expected=EXPECTED,
)
