"""predictions.tsv: one row per test utterance with its label, prediction and probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ptapt.atomic import write_tsv
from ptapt.errors import PtaptError


def write_predictions(path: Path, rows, probabilities: np.ndarray, labels: list[str]) -> list[str]:
    """Write the table; returns the predicted label of every row (argmax, in label order).
    A non-finite probability (diverged weights) is an error: it would be scored as a class."""
    broken = [
        row.utt_id for row, p in zip(rows, probabilities, strict=True) if not np.isfinite(p).all()
    ]
    if broken:
        raise PtaptError(
            f"{path}: the model gives non-finite probabilities for {len(broken)} utterance(s), "
            f"e.g. {broken[0]}; its weights are broken"
        )
    predicted = [labels[int(p.argmax())] for p in probabilities]
    header = ["utt_id", "label", "prediction", *(f"p_{lab}" for lab in labels)]
    cells = (
        [row.utt_id, row.label, pred, *(f"{p:.6f}" for p in probs)]
        for row, pred, probs in zip(rows, predicted, probabilities, strict=True)
    )
    write_tsv(path, header, cells)
    return predicted
