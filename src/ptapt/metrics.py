"""Classification metrics and the aggregation behind every summary table.

Per run (one method, fold and seed), on the fold's test utterances:

- UA  (unweighted accuracy) = macro recall: the mean over classes of per-class recall, over the
  classes present in the reference labels.
- WA  (weighted accuracy) = accuracy: correct predictions / all predictions.
- F1  = macro F1: the unweighted mean of per-class F1.
- the confusion matrix, rows = reference, columns = prediction, in the configured label order.
- EER (equal error rate) per class, one class against the rest from its predicted probability:
  the rate where false acceptances equal false rejections on scikit-learn's ROC curve
  (interpolated between its points), and `eer_macro`, their mean over the classes present.

Across runs, for one method with values v[seed, fold] (a complete grid):

- per-fold value = mean over seeds of v[:, fold]
- mean           = mean over folds of the per-fold values (equal to the mean of all runs)
- fold std       = mean over seeds of the std over folds of v[seed, :] (the reference's
                   definition): how much the held-out session matters
- fold std of means = std over folds of the per-fold values: the same spread with the seed
                   noise averaged out first, so it does not grow with a noisier fine-tuning;
                   equal to fold std with one seed
- run std        = std over seeds of the fold-averaged value mean(v[seed, :]): how much the
                   fine-tuning seed matters

Standard deviations are population values (ddof=0), as in the reference implementation.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
    roc_curve,
)


def unweighted_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    with warnings.catch_warnings():  # predicting a class absent from y_true is legitimate here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def weighted_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    return float(accuracy_score(y_true, y_pred))


def macro_f1(y_true: Sequence, y_pred: Sequence) -> float:
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def equal_error_rate(is_class: np.ndarray, score: np.ndarray) -> float:
    """Where the false-positive rate meets the false-negative rate, one class against the rest."""
    fpr, tpr, _ = roc_curve(is_class, score)
    fnr = 1.0 - tpr
    gap = fnr - fpr  # falls from 1 to -1 along the curve
    k = int(np.flatnonzero(gap <= 0)[0])
    if k == 0 or gap[k] == 0:
        return float(fpr[k])
    w = gap[k - 1] / (gap[k - 1] - gap[k])  # linear interpolation between the two ROC points
    return float(fpr[k - 1] + w * (fpr[k] - fpr[k - 1]))


def equal_error_rates(y_true: Sequence, probabilities: np.ndarray, labels: Sequence[str]) -> dict:
    """EER of every class present with at least one other class beside it."""
    y = np.asarray(y_true)
    return {
        lab: equal_error_rate(y == lab, probabilities[:, k])
        for k, lab in enumerate(labels)
        if 0 < (y == lab).sum() < len(y)
    }


def classification_report(
    y_true: Sequence, y_pred: Sequence, labels: Sequence[str], probabilities=None
) -> dict:
    """Every per-run figure a metrics.json holds, for predictions given as label strings;
    EERs too when the class `probabilities` (N, C) are given."""
    recalls = recall_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    present = set(y_true)
    eer = equal_error_rates(y_true, probabilities, labels) if probabilities is not None else {}
    return {
        "ua": unweighted_accuracy(y_true, y_pred),
        "wa": weighted_accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "recall": {lab: float(r) for lab, r in zip(labels, recalls, strict=True) if lab in present},
        "labels": list(labels),
        "confusion": confusion_matrix(y_true, y_pred, labels=list(labels)).tolist(),
        "counts": {lab: int(sum(1 for y in y_true if y == lab)) for lab in labels},
        "n": len(y_true),
        **({"eer": eer, "eer_macro": float(np.mean(list(eer.values())))} if eer else {}),
    }


@dataclass(frozen=True)
class Aggregate:
    mean: float
    fold_std: float
    fold_std_of_means: float
    run_std: float
    per_fold: list[float]
    n_folds: int
    n_seeds: int


def aggregate(values: np.ndarray) -> Aggregate:
    """Aggregate a (n_seeds, n_folds) grid of one metric as described in the module docstring."""
    grid = np.asarray(values, dtype=float)
    if grid.ndim != 2 or grid.size == 0 or np.isnan(grid).any():
        raise ValueError(f"need a complete (seeds, folds) grid of values, got shape {grid.shape}")
    per_fold = grid.mean(axis=0)
    per_seed = grid.mean(axis=1)
    return Aggregate(
        mean=float(per_fold.mean()),
        fold_std=float(grid.std(axis=1).mean()),
        fold_std_of_means=float(per_fold.std()),
        run_std=float(per_seed.std()),
        per_fold=[float(v) for v in per_fold],
        n_folds=grid.shape[1],
        n_seeds=grid.shape[0],
    )


def runs_to_grid(
    runs: Sequence[tuple[int, int, float]],
) -> tuple[np.ndarray, list[int], list[int]]:
    """(fold, seed, value) triples -> (n_seeds, n_folds) grid, fold ids, seed ids.

    Every (fold, seed) pair must appear exactly once: a summary over an incomplete grid would
    silently weight folds unequally.
    """
    folds = sorted({f for f, _, _ in runs})
    seeds = sorted({s for _, s, _ in runs})
    grid = np.full((len(seeds), len(folds)), np.nan)
    for fold, seed, value in runs:
        i, j = seeds.index(seed), folds.index(fold)
        if not np.isnan(grid[i, j]):
            raise ValueError(f"run fold {fold} seed {seed} appears twice")
        grid[i, j] = value
    missing = [(folds[j], seeds[i]) for i, j in zip(*np.nonzero(np.isnan(grid)), strict=True)]
    if missing:
        raise ValueError(f"incomplete runs: missing (fold, seed) {missing}")
    return grid, folds, seeds
