"""`ptapt tables`: the paper's table shapes from runs.csv, with every missing cell explained."""

import json

import pytest

from ptapt.atomic import write_csv
from ptapt.cli import main
from ptapt.data.manifest import Utterance, write_manifest


def _results(tmp_path):
    """SAVEE-like results: vft and ptapt on 4 speaker folds, 2 seeds; no tapt runs."""
    runs = []
    for k, method in enumerate(["vft", "ptapt"]):
        for fold in range(1, 5):
            for seed in (0, 1):
                ua = 50 + 10 * k + fold + 2 * seed
                row = {"method": method, "fold": fold, "seed": seed, "ua": ua, "wa": ua - 1}
                runs.append({**row, "f1": ua - 2, "eer": 20.0 - k})
    write_csv(tmp_path / "results/savee/runs.csv", runs)
    for fold, speaker in enumerate(["DC", "JE", "JK", "KL"], start=1):
        path = tmp_path / f"results/savee/folds/fold{fold}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"held_out": speaker}))
    return tmp_path / "results"


@pytest.fixture
def savee_tables(tmp_path):
    """The tables of the SAVEE-like results, in tmp_path / "t"."""
    results = _results(tmp_path)
    assert main(["tables", "--results", str(results), "--out", str(tmp_path / "t")]) == 0
    return tmp_path / "t"


def test_by_fold_table_has_the_paper_s_columns_and_seed_means(savee_tables):
    text = (savee_tables / "savee_by_fold.md").read_text().splitlines()
    assert text[2] == "| method | DC | JE | JK | KL | Mean |"
    # vft fold f: seeds 0 and 1 give 51 + f - 1 + {0, 2}: mean 52 + (f - 1)
    assert "| V-FT | 52.0 | 53.0 | 54.0 | 55.0 | 53.5 |" in text
    assert "| P-TAPT | 62.0 | 63.0 | 64.0 | 65.0 | 63.5 |" in text
    assert "| TAPT | — | — | — | — | — |" in text
    assert "- TAPT: no runs (add `tapt` to the methods)" in text
    assert "- each cell: mean over seeds 0, 1" in text


def test_methods_table_gives_mean_and_fold_std(savee_tables):
    rows = (savee_tables / "savee_methods.csv").read_text().splitlines()
    assert rows[0] == "method,UA,WA,F1,EER"
    # per-fold means 52..55: mean 53.5, population std sqrt(1.25) = 1.1
    assert "V-FT,53.5 ± 1.1,52.5 ± 1.1,51.5 ± 1.1,20.0 ± 0.0" in rows


def test_no_results_is_one_line(tmp_path, capsys):
    assert main(["tables", "--results", str(tmp_path), "--out", str(tmp_path / "t")]) == 2
    assert "no <dataset>/runs.csv yet" in capsys.readouterr().err


def _efficiency_dataset(results, name, share, train, ua):
    """One dataset of a data-efficiency series: fold 5, the same test set, its own train share."""
    runs = [{"method": m, "fold": 5, "seed": 0, "ua": v, "wa": v, "f1": v} for m, v in ua.items()]
    write_csv(results / name / "runs.csv", runs)
    fold = {"held_out": "Session5", "test": ["t1", "t2"], "train": train, "train_share": share}
    (results / name / "folds").mkdir(parents=True)
    (results / name / "folds/fold5.json").write_text(json.dumps(fold))
    rows = [Utterance(u, f"{u}.wav", "neu", "s", "g", 900.0, 16000, 900 * 16000) for u in train]
    write_manifest(rows, results / name / "manifest.tsv")


def _two_shares(tmp_path, full_ua: dict) -> list[str]:
    """The data-efficiency table of a full and a half share (half: V-FT 50, TAPT 51,
    P-TAPT 54), as lines."""
    results = tmp_path / "results"
    _efficiency_dataset(results, "full", 1.0, ["a", "b", "c", "d"], full_ua)
    _efficiency_dataset(results, "half", 0.5, ["a", "c"], {"vft": 50, "tapt": 51, "ptapt": 54})
    assert main(["tables", "--results", str(results), "--out", str(tmp_path / "t")]) == 0
    return (tmp_path / "t/data_efficiency_Session5.md").read_text().splitlines()


def test_data_efficiency_table_has_hours_and_the_ratio_row(tmp_path):
    text = _two_shares(tmp_path, {"vft": 60, "tapt": 64, "ptapt": 65})
    assert text[2] == "| method | 0.50 h (0.5) | 1.00 h (1) |"
    assert "| V-FT | 50.0 | 60.0 |" in text and "| P-TAPT | 54.0 | 65.0 |" in text
    # (51 - 50) / (54 - 50) = 25 %; (64 - 60) / (65 - 60) = 80 %
    assert "| Ratio (%) | 25.0 | 80.0 |" in text


def test_no_ratio_where_ptapt_does_not_beat_vft(tmp_path):
    """Two losses over V-FT would give a positive ratio that means nothing: a dash, a note."""
    text = _two_shares(tmp_path, {"vft": 60, "tapt": 59, "ptapt": 56})
    assert "| Ratio (%) | 25.0 | — |" in text
    assert "- no ratio where P-TAPT does not beat V-FT: 1.00 h (1)" in text
    assert (tmp_path / "t/data_efficiency_Session5_curve.png").stat().st_size > 0
