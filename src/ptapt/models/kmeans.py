"""k-means pseudo-labels with faiss, on frame features that may be a float16 memory map.

Training uses a seeded sample of at most `max_points_per_centroid` x K frames converted to
float32 (by default every frame, as the reference); assignment streams over all frames in
chunks. Centroids start from k-means++ on 32 frames per centroid
(one candidate per draw): on a Gaussian mixture this reaches the inertia of MiniBatchKMeans with
HuBERT's settings, where faiss's random start is 2-5 % worse (benchmarks/kmeans.py).
"""

from __future__ import annotations

import faiss
import numpy as np
from sklearn.cluster import kmeans_plusplus
from sklearn.metrics import normalized_mutual_info_score

from ptapt.errors import PtaptError

INIT_POINTS_PER_CENTROID = 32


def use_gpu(device: str) -> bool:
    """faiss on GPU when asked for ('auto' and a GPU build with a GPU, or 'cuda')."""
    available = hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    if device == "cuda" and not available:
        raise PtaptError("stage 2: device 'cuda' asked for, but faiss sees no GPU (faiss-cpu?)")
    return available and device in ("auto", "cuda")


def fit(
    features: np.ndarray,
    k: int,
    niter: int = 20,
    seed: int = 0,
    max_points_per_centroid: int = 500000,
    init: str = "kmeans++",
    gpu: bool = False,
) -> np.ndarray:
    """Centroids (k, d) float32 of Lloyd k-means on a sample of `features` (n, d)."""
    n, d = features.shape
    if n < k:
        raise PtaptError(f"k-means with K={k} needs at least {k} frames, got {n}")
    rng = np.random.default_rng(seed)
    n_train = min(n, max_points_per_centroid * k)
    rows = np.sort(rng.choice(n, n_train, replace=False)) if n_train < n else slice(None)
    sample = np.ascontiguousarray(features[rows], dtype=np.float32)
    kmeans = faiss.Kmeans(
        d,
        k,
        niter=niter,
        seed=seed,
        gpu=gpu,
        max_points_per_centroid=max_points_per_centroid,
        verbose=False,
    )
    start = None
    if init == "kmeans++":
        seeds = sample[rng.permutation(len(sample))[: INIT_POINTS_PER_CENTROID * k]]
        start, _ = kmeans_plusplus(seeds, k, random_state=seed, n_local_trials=1)
    elif init != "random":
        raise PtaptError(f"unknown k-means init {init!r}; choose random or kmeans++")
    kmeans.train(sample, init_centroids=start)
    return kmeans.centroids


def assign(
    features: np.ndarray, centroids: np.ndarray, chunk: int = 65536, gpu: bool = False
) -> tuple[np.ndarray, float]:
    """Nearest-centroid id of every frame (int32) and the inertia (sum of squared distances)."""
    index = faiss.IndexFlatL2(centroids.shape[1])
    if gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    ids = np.empty(len(features), dtype=np.int32)
    inertia = 0.0
    for start in range(0, len(features), chunk):
        block = np.ascontiguousarray(features[start : start + chunk], dtype=np.float32)
        dist, nearest = index.search(block, 1)
        ids[start : start + len(block)] = nearest[:, 0]
        inertia += float(dist.sum(dtype=np.float64))
    return ids, inertia


def quality(
    cluster_ids: np.ndarray, utt_labels: np.ndarray, frame_counts: np.ndarray, seed: int = 0
) -> dict:
    """How much the clusters say about emotion: purity and NMI against the frames' utterance
    labels, the majority-label share (`prior`, purity's floor) and the NMI after permuting labels
    across utterances (`nmi_shuffled`, NMI's chance level for this utterance structure)."""
    frame_labels = np.repeat(utt_labels, frame_counts)
    n_labels = int(utt_labels.max()) + 1
    joint = np.bincount(cluster_ids.astype(np.int64) * n_labels + frame_labels)
    contingency = np.pad(joint, (0, -len(joint) % n_labels)).reshape(-1, n_labels)
    shuffled = np.repeat(np.random.default_rng(seed).permutation(utt_labels), frame_counts)
    return {
        "purity": float(contingency.max(axis=1).sum() / len(frame_labels)),
        "prior": float(np.bincount(frame_labels).max() / len(frame_labels)),
        "nmi": float(normalized_mutual_info_score(frame_labels, cluster_ids)),
        "nmi_shuffled": float(normalized_mutual_info_score(shuffled, cluster_ids)),
    }
