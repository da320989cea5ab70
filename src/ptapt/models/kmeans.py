"""k-means pseudo-labels on frame features that may be a float16 memory map.

Lloyd's algorithm over the features as they are stored: memory never holds a float32 copy of
them. When every iteration compares each frame with every centroid (K <= `candidates`), faiss
runs it, decoding the float16 frames block by block. Above that, the first iteration does (an
exact search by faiss, in chunks) and later ones compare a frame only with the `candidates`
centroids nearest to its current one: frames seldom move further, and a frame's own centroid is
always a candidate, so no iteration raises the inertia. At K = 4096 on 1M x 512 frames this ends
at the inertia of the exact search in a quarter of the time (benchmarks/kmeans.py). The labels
written come from an exact search (`assign`).

Centroids start from k-means++ on a sample of 32 frames per centroid, at most 16,384 frames (its
cost grows with K times the sample): on a Gaussian mixture this reaches MiniBatchKMeans's inertia
at K = 64 and 512, where random frames (faiss's start) are 2-5 % worse.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch
from sklearn.cluster import kmeans_plusplus
from sklearn.metrics import normalized_mutual_info_score

from ptapt.errors import PtaptError

INIT_POINTS_PER_CENTROID = 32
INIT_POINTS_MAX = 16384
CHUNK = 65536  # frames converted to float32 at a time: 128 MB at 512 dimensions
SPLIT_EPS = 1 / 1024  # an empty cluster takes half of a large one, moved apart by this much


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
    candidates: int = 128,
) -> np.ndarray:
    """Centroids (k, d) float32 of Lloyd k-means on a sample of `features` (n, d)."""
    n, _ = features.shape
    if n < k:
        raise PtaptError(f"k-means with K={k} needs at least {k} frames, got {n}")
    rng = np.random.default_rng(seed)
    n_train = min(n, max_points_per_centroid * k)
    train = features[np.sort(rng.choice(n, n_train, replace=False))] if n_train < n else features
    centroids = start(train, k, init, rng, seed)
    if candidates >= k:
        return faiss_lloyd(train, centroids, niter, seed, gpu)
    labels = None
    for _ in range(niter):
        if labels is None:
            labels = assign(train, centroids, gpu=gpu)[0]
        else:
            labels = nearest_among_neighbours(train, centroids, labels, candidates)
        centroids = means(train, labels, centroids, rng)
    return centroids


def faiss_lloyd(train, centroids: np.ndarray, niter: int, seed: int, gpu: bool) -> np.ndarray:
    """faiss's Lloyd iterations from `centroids` on every frame of `train`; float16 frames are
    decoded block by block."""
    k, d = centroids.shape
    clustering = faiss.Clustering(d, k)
    clustering.niter, clustering.seed = niter, seed
    clustering.max_points_per_centroid = len(train)  # sampled already
    faiss.copy_array_to_vector(centroids.ravel(), clustering.centroids)
    index = exact_index(np.zeros((0, d), dtype=np.float32), gpu)
    if train.dtype == np.float16:
        codec = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16)
        clustering.train_encoded(train.view(np.uint8), codec, index)
    else:
        clustering.train(np.ascontiguousarray(train, dtype=np.float32), index)
    return faiss.vector_to_array(clustering.centroids).reshape(k, d)


def start(train: np.ndarray, k: int, init: str, rng: np.random.Generator, seed: int):
    """Initial centroids: k-means++ on a sample, or random frames."""
    if init == "random":
        return rows_f32(train, np.sort(rng.choice(len(train), k, replace=False))).numpy()
    if init != "kmeans++":
        raise PtaptError(f"unknown k-means init {init!r}; choose random or kmeans++")
    pool = min(len(train), INIT_POINTS_PER_CENTROID * k, max(INIT_POINTS_MAX, k))
    seeds = rows_f32(train, np.sort(rng.choice(len(train), pool, replace=False))).numpy()
    return kmeans_plusplus(seeds, k, random_state=seed, n_local_trials=1)[0]


def nearest_among_neighbours(train, centroids: np.ndarray, labels: np.ndarray, candidates: int):
    """Each frame's nearest centroid among the `candidates` nearest to its current one."""
    k = len(centroids)
    _, near = exact_index(centroids).search(centroids, candidates)  # itself first
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    points = torch.from_numpy(centroids)
    half_norms = (points * points).sum(dim=1) / 2
    new = np.empty_like(labels)
    for j in np.flatnonzero(np.diff(bounds)):
        rows = order[bounds[j] : bounds[j + 1]]
        near_j = torch.from_numpy(near[j])
        scores = rows_f32(train, rows) @ points[near_j].T - half_norms[near_j]
        new[rows] = near_j[scores.argmax(dim=1)].numpy()
    return new


def means(train, labels: np.ndarray, centroids: np.ndarray, rng) -> np.ndarray:
    """The mean of each cluster's frames. An empty cluster takes over half of a large one,
    as faiss does: a copy of its centroid, both moved apart by SPLIT_EPS."""
    k, d = centroids.shape
    sums = torch.zeros(k, d)
    for first in range(0, len(train), CHUNK):
        block = rows_f32(train, slice(first, first + CHUNK))
        sums.index_add_(0, torch.from_numpy(labels[first : first + CHUNK]).long(), block)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    new = sums.numpy() / np.maximum(counts, 1)[:, None]
    sign = np.where(np.arange(d) % 2 == 0, SPLIT_EPS, -SPLIT_EPS).astype(np.float32)
    for empty in np.flatnonzero(counts == 0):
        big = rng.choice(k, p=np.maximum(counts - 1, 0) / np.maximum(counts - 1, 0).sum())
        new[empty], new[big] = new[big] * (1 + sign), new[big] * (1 - sign)
        counts[empty] = counts[big] / 2
        counts[big] -= counts[empty]
    return new.astype(np.float32)


def rows_f32(features: np.ndarray, rows) -> torch.Tensor:
    """Rows of `features` as float32 (torch converts float16 several times faster than numpy)."""
    return torch.from_numpy(np.array(features[rows])).float()


def exact_index(centroids: np.ndarray, gpu: bool = False):
    index = faiss.IndexFlatL2(centroids.shape[1])
    if gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return index


def assign(
    features: np.ndarray, centroids: np.ndarray, chunk: int = CHUNK, gpu: bool = False
) -> tuple[np.ndarray, float]:
    """Nearest-centroid id of every frame (int32) and the inertia (sum of squared distances)."""
    index = exact_index(centroids, gpu)
    ids = np.empty(len(features), dtype=np.int32)
    inertia = 0.0
    for first in range(0, len(features), chunk):
        dist, nearest = index.search(rows_f32(features, slice(first, first + chunk)).numpy(), 1)
        ids[first : first + len(nearest)] = nearest[:, 0]
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
