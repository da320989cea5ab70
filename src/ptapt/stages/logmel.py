"""The `logmel` reference method on one fold: log-mel statistics and logistic regression.

The "spectrogram" line of the paper's Table 5: a classifier that sees only the sound's
spectral statistics, trained on the fold's training utterances (full length) and tested on its
test utterances, written like every other method's run (metrics.json, predictions.tsv,
train_ids.txt). Logistic regression with lbfgs is deterministic: every seed gives the same run.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ptapt.atomic import write_json, write_lines
from ptapt.config import LogmelConfig
from ptapt.data.audio import load_rows
from ptapt.data.folds import read_fold
from ptapt.data.manifest import label_ids, read_manifest, select
from ptapt.data.predictions import write_predictions
from ptapt.metrics import classification_report
from ptapt.models.logmel import utterance_statistics

log = logging.getLogger(__name__)


def features(rows, cfg: LogmelConfig, desc: str) -> np.ndarray:
    return np.stack([utterance_statistics(w, cfg) for w in load_rows(rows, desc)])


def run(
    manifest: str, fold_file: str, seed: int, cfg: LogmelConfig, labels: list[str], out_dir: str
) -> dict:
    rows, fold = read_manifest(manifest), read_fold(fold_file)
    train_rows, test_rows = select(rows, fold.train, fold_file), select(rows, fold.test, fold_file)
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(
            C=cfg.c, class_weight="balanced", max_iter=cfg.max_iter, random_state=seed
        ),
    )
    model.fit(features(train_rows, cfg, "logmel training"), label_ids(train_rows, labels))
    probabilities = np.zeros((len(test_rows), len(labels)))
    probabilities[:, model.classes_] = model.predict_proba(features(test_rows, cfg, "logmel test"))
    out = Path(out_dir)
    predicted = write_predictions(out / "predictions.tsv", test_rows, probabilities, labels)
    metrics = classification_report([r.label for r in test_rows], predicted, labels, probabilities)
    metrics.update(method="logmel", fold=fold.fold, seed=seed, n_train=len(train_rows))
    metrics.update(n_valid=0, mode="logistic-regression", config=asdict(cfg))
    write_lines(out / "train_ids.txt", [r.utt_id for r in train_rows])
    write_json(out / "metrics.json", metrics)
    log.info("logmel fold %d: UA %.3f WA %.3f", fold.fold, metrics["ua"], metrics["wa"])
    return metrics
