"""predictions.tsv: one row per test utterance with its label, prediction and probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ptapt.atomic import write_tsv


def write_predictions(path: Path, rows, probabilities: np.ndarray, labels: list[str]) -> list[str]:
    """Write the table; returns the predicted label of every row (argmax, in label order)."""
    predicted = [labels[int(p.argmax())] for p in probabilities]
    header = ["utt_id", "label", "prediction", *(f"p_{lab}" for lab in labels)]
    cells = (
        [row.utt_id, row.label, pred, *(f"{p:.6f}" for p in probs)]
        for row, pred, probs in zip(rows, predicted, probabilities, strict=True)
    )
    write_tsv(path, header, cells)
    return predicted
