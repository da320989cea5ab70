"""Stage 2's k-means: the search among neighbouring centroids finds what the exact search finds
where it should, no iteration raises the inertia, empty clusters are refilled, and the float16
memory map gives what the array gives (and float16 frames what their float32 values give)."""

import numpy as np

from ptapt.models import kmeans


def mixture(n=6000, dim=16, centres=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 3.0, size=(centres, dim))
    return (means[rng.integers(0, centres, n)] + rng.standard_normal((n, dim))).astype(np.float32)


def test_searching_the_neighbouring_centroids_finds_the_nearest_one_of_all():
    frames = mixture()
    centroids = kmeans.fit(frames, 64, niter=3, candidates=64)
    exact, _ = kmeans.assign(frames, centroids)
    stale = kmeans.assign(frames, centroids + 0.05)[0]  # labels of slightly older centroids
    assert np.array_equal(kmeans.nearest_among_neighbours(frames, centroids, stale, 64), exact)
    near = kmeans.nearest_among_neighbours(frames, centroids, stale, 16)
    assert np.mean(near == exact) > 0.99
    alone = kmeans.nearest_among_neighbours(frames, centroids, stale, 1)  # itself only
    assert np.array_equal(alone, stale)


def test_no_iteration_raises_the_inertia():
    frames = mixture()
    fits = [kmeans.fit(frames, 64, niter=n, candidates=8) for n in (1, 2, 4, 8)]
    inertia = [kmeans.assign(frames, centroids)[1] for centroids in fits]
    assert inertia == sorted(inertia, reverse=True) and inertia[-1] < inertia[0]


def test_an_empty_cluster_takes_half_of_a_large_one():
    frames = mixture(n=600, centres=2)
    centroids = np.stack([frames[:300].mean(0), frames[300:].mean(0), np.full(16, 100.0)])
    labels, _ = kmeans.assign(frames, centroids.astype(np.float32))
    assert np.bincount(labels, minlength=3)[2] == 0
    new = kmeans.means(frames, labels, centroids, np.random.default_rng(0))
    assert np.abs(new[2]).max() < 50  # no longer far from every frame
    assert len(np.unique(kmeans.assign(frames, new)[0])) == 3


def test_a_float16_memory_map_gives_the_centroids_of_the_array(tmp_path):
    frames = mixture().astype(np.float16)
    frames.tofile(tmp_path / "f16")
    mapped = np.memmap(tmp_path / "f16", dtype=np.float16, mode="r", shape=frames.shape)
    for init, candidates in (("kmeans++", 16), ("random", 16), ("kmeans++", 64)):  # 64: faiss's
        in_memory = kmeans.fit(frames, 64, niter=4, init=init, candidates=candidates)
        on_disk = kmeans.fit(mapped, 64, niter=4, init=init, candidates=candidates)
        assert np.array_equal(on_disk, in_memory)
    as_float32 = kmeans.fit(frames.astype(np.float32), 64, niter=4)
    assert np.allclose(kmeans.fit(mapped, 64, niter=4), as_float32, atol=1e-3)
