"""Stage 2: frame features of the stage-1 model and k-means pseudo-labels, per fold.

Features are the aligner's output (20 ms frames) on the fold's training utterances, full length
in eval mode, kept in a temporary float16 memory map. Writes `pseudo_labels.npz` (utt_ids,
offsets with frames of utterance i at offsets[i]:offsets[i+1], one int32 array k<K> per K) and
`cluster_report.json` (inertia, purity, prior, nmi, nmi_shuffled per K).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from ptapt.atomic import write_json
from ptapt.config import Stage2Config
from ptapt.data.audio import load_audio
from ptapt.data.feature_cache import store_frames
from ptapt.data.folds import read_fold
from ptapt.data.manifest import label_ids, read_manifest, select
from ptapt.data.pseudo_labels import write_pseudo_labels
from ptapt.models import kmeans
from ptapt.models.frame_classifier import FrameClassifier, load_frame_classifier
from ptapt.progress import progress
from ptapt.training.loop import pick_device

log = logging.getLogger(__name__)


def run(manifest: str, fold_file: str, stage1_dir: str, cfg: Stage2Config, out_dir: str) -> dict:
    fold = read_fold(fold_file)
    rows = select(read_manifest(manifest), fold.train, fold_file)
    device = pick_device(cfg.device)
    model = load_frame_classifier(stage1_dir).to(device).eval()
    labels = np.array(label_ids(rows, model.config.labels))
    gpu = kmeans.use_gpu(cfg.device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".features.") as tmp:
        features, counts = extract(model, rows, Path(tmp) / "frames.f16", device)
        log.info(
            "stage 2: %d frames of %d utterances, dim %d",
            *features.shape[:1],
            len(rows),
            features.shape[1],
        )
        assignments, report = {}, {}
        for k in cfg.ks:
            centroids = kmeans.fit(
                features,
                k,
                cfg.niter,
                cfg.seed,
                cfg.max_points_per_centroid,
                cfg.init,
                gpu,
                cfg.candidates,
            )
            ids, inertia = kmeans.assign(features, centroids, gpu=gpu)
            assignments[k] = ids
            report[f"k{k}"] = {"inertia": inertia, **kmeans.quality(ids, labels, counts, cfg.seed)}
            log.info("stage 2: K=%d %s", k, report[f"k{k}"])
        del features
    write_pseudo_labels(out / "pseudo_labels.npz", [r.utt_id for r in rows], counts, assignments)
    write_json(out / "cluster_report.json", report)
    return report


@torch.no_grad()
def extract(model: FrameClassifier, rows, store: Path, device) -> tuple[np.memmap, np.ndarray]:
    """Aligned features of every file, one at a time (no padding), into a float16 memory map."""

    def frames():
        for row in progress(rows, "stage 2 features", "utt"):
            wav = load_audio(row.path, expect=(row.num_samples, row.sample_rate))
            yield model.aligned_features(torch.from_numpy(wav)[None].to(device))[0]

    return store_frames(frames(), store)
