"""The IEMOCAP parser on a hand-built tree holding every awkward case of the real release."""

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import parse_iemocap
from ptapt.cli import main
from ptapt.corpora import CORPORA, iemocap
from ptapt.corpora.base import Expected
from ptapt.data.manifest import read_manifest

LEGEND = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def header(utt: str, label: str) -> str:
    return f"[1.0000 - 2.5000]\t{utt}\t{label}\t[2.5000, 2.5000, 2.5000]\nC-E1:\tNeutral;\t()\n\n"


def wav(root: Path, session: int, dialog: str, utt: str, seconds: float = 0.5, sr: int = 16000):
    path = root / f"Session{session}/sentences/wav/{dialog}/{utt}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * sr), dtype=np.int16), sr, subtype="PCM_16")


def evaluation(root: Path, session: int, name: str, text: str, newline: str = "\n"):
    path = root / f"Session{session}/dialog/EmoEvaluation/{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "IEMOCAP_full_release"
    # Session 1: every kept label, exc (-> hap), labels to drop, a missing and an unlabelled wav.
    d1 = "Ses01F_impro01"
    labels = {
        "F000": "neu",
        "M000": "hap",
        "F001": "exc",
        "M001": "ang",
        "F002": "sad",
        "M002": "fru",
        "F003": "xxx",
        "M003": "sur",
    }
    evaluation(
        root,
        1,
        f"{d1}.txt",
        LEGEND
        + "".join(header(f"{d1}_{t}", lab) for t, lab in labels.items())
        + header(f"{d1}_F004", "neu"),
    )  # F004 has no wav
    for turn in labels:
        wav(root, 1, d1, f"{d1}_{turn}")
    wav(root, 1, d1, f"{d1}_M009")  # a wav nobody labelled
    # Subfolders and AppleDouble junk that a recursive or careless reader would pick up.
    evaluation(root, 1, "Categorical/Ses01F_impro01_e2_cat.txt", header(f"{d1}_M009", "ang"))
    evaluation(root, 1, "Attribute/Ses01F_impro01_e2_atr.txt", header(f"{d1}_M009", "sad"))
    evaluation(root, 1, f"._{d1}.txt", header(f"{d1}_M009", "neu"))
    (root / f"Session1/sentences/wav/{d1}/._{d1}_F000.wav").write_bytes(b"\x00\x05\x16\x07junk")
    # Session 3: a dialog name whose speaker letter is not at the usual offset; a CRLF file.
    d3 = "Ses03M_impro05b"
    evaluation(
        root,
        3,
        f"{d3}.txt",
        LEGEND + header(f"{d3}_F012", "ang") + header(f"{d3}_M004", "sad"),
        newline="\r\n",
    )
    wav(root, 3, d3, f"{d3}_F012", seconds=1.25)
    wav(root, 3, d3, f"{d3}_M004", sr=44100)
    # Session 5: a scripted dialog with a letter suffix.
    d5 = "Ses05M_script01_1b"
    evaluation(root, 5, f"{d5}.txt", LEGEND + header(f"{d5}_F000", "exc"))
    wav(root, 5, d5, f"{d5}_F000")
    return root


def test_parser_keeps_exactly_the_four_classes_from_top_level_headers(tree, caplog):
    with caplog.at_level(logging.WARNING):
        rows = parse_iemocap(tree)
    by_id = {r.utt_id: r for r in rows}
    assert list(by_id) == sorted(by_id)
    assert {u: r.label for u, r in by_id.items()} == {
        "Ses01F_impro01_F000": "neu",
        "Ses01F_impro01_F001": "hap",  # exc -> hap
        "Ses01F_impro01_F002": "sad",
        "Ses01F_impro01_M000": "hap",
        "Ses01F_impro01_M001": "ang",
        "Ses03M_impro05b_F012": "ang",  # from the CRLF file
        "Ses03M_impro05b_M004": "sad",
        "Ses05M_script01_1b_F000": "hap",
    }
    # One warning line, with the count, for the labelled utterance without a wav.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "skipped 1 labelled utterance" in warnings[0]
    assert "Ses01F_impro01_F004.wav" in warnings[0]


def test_speaker_comes_from_the_last_token(tree):
    by_id = {r.utt_id: r for r in parse_iemocap(tree)}
    assert by_id["Ses03M_impro05b_F012"].speaker == "Ses03F"
    assert by_id["Ses03M_impro05b_M004"].speaker == "Ses03M"
    assert by_id["Ses05M_script01_1b_F000"].speaker == "Ses05F"
    assert by_id["Ses01F_impro01_M001"].speaker == "Ses01M"
    assert {r.group for r in by_id.values()} == {"Session1", "Session3", "Session5"}
    with pytest.raises(ValueError):
        iemocap.speaker_of("Ses01F_impro01")


def test_durations_and_rates_come_from_the_wav_headers(tree):
    by_id = {r.utt_id: r for r in parse_iemocap(tree)}
    assert by_id["Ses03M_impro05b_F012"].duration_s == pytest.approx(1.25)
    assert by_id["Ses03M_impro05b_F012"].num_samples == 20000
    assert by_id["Ses03M_impro05b_M004"].sample_rate == 44100


def test_cli_writes_sorted_manifest_and_prints_count_table(tree, tmp_path, capsys):
    out = tmp_path / "manifest.tsv"
    assert (
        main(
            [
                "manifest",
                "--corpus",
                "iemocap",
                "--root",
                str(tree),
                "--out",
                str(out),
                "--no-expect-counts",
            ]
        )
        == 0
    )
    rows = read_manifest(out)
    assert [r.utt_id for r in rows] == sorted(r.utt_id for r in rows) and len(rows) == 8
    assert out.read_text().splitlines()[0].split("\t")[:7] == [
        "utt_id",
        "path",
        "label",
        "speaker",
        "group",
        "duration_s",
        "sample_rate",
    ]
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["group", "neu", "hap", "ang", "sad", "total"]
    assert table[1].split() == ["Session1", "1", "2", "1", "1", "5"]
    assert table[-1].split() == ["all", "1", "3", "2", "2", "8"]


def test_real_release_counts_are_enforced(tree, tmp_path, capsys, monkeypatch):
    out = tmp_path / "manifest.tsv"
    args = ["manifest", "--corpus", "iemocap", "--root", str(tree), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(tree) in err and "8 utterances instead of 5531" in err and err.count("\n") == 1
    assert not out.exists()
    # The same check passes when the tree has the expected counts.
    counts = Expected(
        total=8,
        per_label={"neu": 1, "hap": 3, "ang": 2, "sad": 2},
        speakers=5,
        per_group={"Session1": 5, "Session3": 2, "Session5": 1},
    )
    monkeypatch.setitem(CORPORA, "iemocap", replace(CORPORA["iemocap"], expected=counts))
    assert main(args) == 0 and out.exists()


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_wrong_root_exits_2_naming_the_layout(tmp_path, capsys, make):
    root = tmp_path / "nowhere"
    if make == "empty":
        root.mkdir()
    code = main(
        ["manifest", "--corpus", "iemocap", "--root", str(root), "--out", str(tmp_path / "m.tsv")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert str(root) in err and "Session{1..5}/dialog/EmoEvaluation" in err
