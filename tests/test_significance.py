"""The paired sign-flip test against hand-computed cases, and the significance table."""

import json

import numpy as np
import pytest

from ptapt.significance import compare, sign_flip_p
from ptapt.stages import summarize


def test_exact_p_values_match_hand_enumeration():
    # d = 1, 2, 3: of the 8 sign patterns only +++ and --- reach |sum| >= 6
    assert sign_flip_p(np.array([1.0, 2.0, 3.0])) == (pytest.approx(0.25), True)
    # d = 2, 1, 1, 1: |sum| >= 5 again only for all-equal signs, 2 of 16
    assert sign_flip_p(np.array([2.0, 1.0, 1.0, 1.0]))[0] == pytest.approx(0.125)
    # symmetric differences carry no evidence
    assert sign_flip_p(np.array([1.0, -1.0]))[0] == pytest.approx(1.0)
    assert sign_flip_p(np.zeros(5)) == (1.0, True)


def test_many_pairs_fall_back_to_a_seeded_monte_carlo_estimate():
    d = np.linspace(0.5, 3.0, 25)  # all positive: exact p = 2 / 2^25
    p, exact = sign_flip_p(d)
    assert not exact and p < 1e-3 and p == sign_flip_p(d)[0]


def test_compare_reports_runs_and_folds():
    a = np.array([[61.0, 70.0, 83.0], [62.0, 69.0, 84.0]])  # (seeds, folds)
    b = a - np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    result = compare(a, b)
    assert result["diff_mean"] == pytest.approx(2.0)
    assert (result["wins"], result["losses"], result["n_pairs"]) == (6, 0, 6)
    assert result["p_runs"] == pytest.approx(2 / 64) and result["p_folds"] == pytest.approx(0.25)


def test_summary_writes_the_significance_table(tmp_path):
    paths = []
    for method, offset in (("vft", 0.0), ("tapt", 0.02)):
        for fold in (1, 2, 3):
            path = tmp_path / f"{method}{fold}.json"
            ua = 0.5 + 0.1 * fold + offset
            record = {"method": method, "fold": fold, "seed": 0, "ua": ua, "wa": ua, "macro_f1": ua}
            path.write_text(json.dumps(record))
            paths.append(str(path))
    out = [str(tmp_path / f) for f in ("runs.csv", "summary.csv", "significance.csv")]
    text = summarize.run(paths, *out)
    header, row = (tmp_path / "significance.csv").read_text().splitlines()
    test = dict(zip(header.split(","), row.split(","), strict=True))
    assert (test["method"], test["versus"], float(test["diff_mean"])) == ("tapt", "vft", 2.0)
    assert float(test["p_runs"]) == 0.25 and "Paired sign-flip tests" in text


def test_a_single_pair_can_never_be_significant():
    """2 sign patterns, both as extreme as the observed one (scipy refuses one observation)."""
    assert sign_flip_p(np.array([7.5])) == (1.0, True)
