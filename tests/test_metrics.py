import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from ptapt import metrics
from ptapt.metrics import classification_report, equal_error_rate

Y_TRUE = ["a", "a", "a", "b", "b", "c"]
Y_PRED = ["a", "a", "b", "b", "c", "c"]


def test_per_run_metrics_match_hand_computation():
    # recalls a 2/3, b 1/2, c 1; precisions a 1, b 1/2, c 1/2; F1 a 0.8, b 0.5, c 2/3
    assert metrics.unweighted_accuracy(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert metrics.weighted_accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert metrics.macro_f1(Y_TRUE, Y_PRED) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_report_confusion_follows_label_order():
    report = metrics.classification_report(Y_TRUE, Y_PRED, labels=["c", "b", "a"])
    assert report["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 1, 2]]
    assert report["recall"] == pytest.approx({"c": 1.0, "b": 0.5, "a": 2 / 3})
    assert report["counts"] == {"c": 1, "b": 2, "a": 3}
    assert report["n"] == 6


def test_ua_ignores_classes_absent_from_reference():
    # 'd' is predicted but never true: UA averages recall over a, b only.
    assert metrics.unweighted_accuracy(["a", "b"], ["a", "d"]) == pytest.approx(0.5)


def test_aggregate_matches_hand_computation():
    grid = np.array([[60.0, 70.0, 80.0], [62.0, 68.0, 86.0]])  # (seeds, folds)
    agg = metrics.aggregate(grid)
    assert agg.per_fold == pytest.approx([61.0, 69.0, 83.0])
    assert agg.mean == pytest.approx(71.0)
    # the reference's fold std: per seed the std over folds, then the mean over seeds
    assert agg.fold_std == pytest.approx((np.sqrt(200 / 3) + np.sqrt(312 / 3)) / 2)
    assert agg.fold_std_of_means == pytest.approx(np.sqrt((100 + 4 + 144) / 3))
    assert agg.run_std == pytest.approx(1.0)  # seed means 70 and 72
    assert (agg.n_seeds, agg.n_folds) == (2, 3)


def test_runs_to_grid_orders_and_requires_a_complete_grid():
    runs = [(2, 1, 0.5), (1, 1, 0.25), (1, 0, 0.75), (2, 0, 1.0)]
    grid, folds, seeds = metrics.runs_to_grid(runs)
    assert folds == [1, 2] and seeds == [0, 1]
    assert grid.tolist() == [[0.75, 1.0], [0.25, 0.5]]
    with pytest.raises(ValueError, match="missing"):
        metrics.runs_to_grid(runs[:-1])
    with pytest.raises(ValueError, match="twice"):
        metrics.runs_to_grid([*runs, (1, 0, 0.1)])


def test_equal_error_rate_by_hand():
    # positives 0.9, 0.4; negatives 0.6, 0.1: at threshold 0.6 one of each side is wrong
    is_class = np.array([1, 1, 0, 0], bool)
    assert equal_error_rate(is_class, np.array([0.9, 0.4, 0.6, 0.1])) == 0.5
    assert equal_error_rate(is_class, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert equal_error_rate(is_class, np.full(4, 0.3)) == 0.5  # a constant score: chance


def test_equal_error_rate_is_where_the_roc_crosses_the_diagonal():
    """Against the usual formula: the root of 1 - x - tpr(x) on the piecewise-linear ROC."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        is_class = rng.random(60) < 0.3
        score = rng.normal(is_class * rng.uniform(0, 2), 1.0)
        fpr, tpr, _ = roc_curve(is_class, score)
        roc = interp1d(fpr, tpr)
        expected = brentq(lambda x, roc=roc: 1.0 - x - roc(x), 0.0, 1.0)
        assert equal_error_rate(is_class, score) == pytest.approx(expected, abs=1e-9)


def test_report_has_per_class_and_macro_eer_given_probabilities():
    labels = ["neu", "hap", "ang"]
    y = ["neu", "hap", "ang", "neu"]
    p = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.3, 0.3, 0.4]])
    report = classification_report(y, ["neu", "hap", "neu", "ang"], labels, p)
    assert set(report["eer"]) == set(labels)
    assert report["eer_macro"] == pytest.approx(np.mean(list(report["eer"].values())))
    assert "eer" not in classification_report(y, y, labels)
