"""Stage-2 k-means against its previous version and scikit-learn, and pseudo_labels.npz against
the reference's JSON.

    python benchmarks/kmeans.py [--n 1000000] [--dim 512] [--ks 64 512] [--methods NAME ...]

Data: float32 frames from a Gaussian mixture (200 centres, unit noise). Each method runs in a
fresh process (peak RSS is that process's high-water mark, the data it loads included) on the same
data, all at 20 iterations:
- `stage 2`: the float16 memory map, k-means++ on at most 16,384 frames, the first iteration
  against every centroid and the later ones against the 128 nearest to a frame's centroid;
- `stage 2, every centroid`: the same with every iteration against every centroid;
- `stage 2 before`: the previous version: a float32 copy, k-means++ on 32 frames per centroid,
  faiss's Lloyd (every frame against every centroid);
- scikit-learn MiniBatchKMeans with fairseq HuBERT simple_kmeans settings (k-means++, n_init 20,
  batch 10000, no reassignment), and KMeans (Lloyd, random init); about 40 minutes each at
  K = 4096 on 2 cores, so `--methods` leaves them out there.
Inertia is recomputed for every method's centroids on the float32 data, so the figures are
comparable. Times include assigning every frame. Ratios are against `stage 2 before`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from ptapt.models import kmeans

ITERATIONS = 20


def make_data(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(200, dim)).astype(np.float32)
    which = rng.integers(0, len(centres), size=n)
    data = rng.standard_normal((n, dim), dtype=np.float32)
    data += centres[which]
    return data


def mapped(paths: dict) -> np.memmap:
    n, dim = paths["shape"]
    return np.memmap(paths["f16"], dtype=np.float16, mode="r", shape=(n, dim))


def run_stage2(paths: dict, k: int) -> np.ndarray:
    features = mapped(paths)
    centroids = kmeans.fit(features, k, niter=ITERATIONS, seed=0)
    kmeans.assign(features, centroids)
    return centroids


def run_every_centroid(paths: dict, k: int) -> np.ndarray:
    features = mapped(paths)
    centroids = kmeans.fit(features, k, niter=ITERATIONS, seed=0, candidates=k)
    kmeans.assign(features, centroids)
    return centroids


def run_before(paths: dict, k: int) -> np.ndarray:
    """Stage 2 as it was: a float32 copy of every frame, k-means++ on 32 frames per centroid,
    faiss.Kmeans."""
    from sklearn.cluster import kmeans_plusplus

    features = mapped(paths)
    sample = np.ascontiguousarray(features, dtype=np.float32)
    rng = np.random.default_rng(0)
    seeds = sample[rng.permutation(len(sample))[: 32 * k]]
    start, _ = kmeans_plusplus(seeds, k, random_state=0, n_local_trials=1)
    model = faiss.Kmeans(
        sample.shape[1], k, niter=ITERATIONS, seed=0, max_points_per_centroid=500000
    )
    model.train(sample, init_centroids=start)
    kmeans.assign(features, model.centroids)
    return model.centroids


def run_minibatch(paths: dict, k: int) -> np.ndarray:
    from sklearn.cluster import MiniBatchKMeans

    data = np.load(paths["f32"])
    model = MiniBatchKMeans(
        n_clusters=k,
        init="k-means++",
        n_init=20,
        batch_size=10000,
        max_iter=ITERATIONS,
        tol=0.0,
        max_no_improvement=100,
        reassignment_ratio=0.0,
        random_state=0,
    ).fit(data)
    model.predict(data)
    return model.cluster_centers_.astype(np.float32)


def run_lloyd(paths: dict, k: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    data = np.load(paths["f32"])
    model = KMeans(
        n_clusters=k,
        init="random",
        n_init=1,
        max_iter=ITERATIONS,
        tol=0.0,
        algorithm="lloyd",
        random_state=0,
    ).fit(data)
    model.predict(data)
    return model.cluster_centers_.astype(np.float32)


METHODS = {
    "stage 2 before": run_before,
    "stage 2": run_stage2,
    "stage 2, every centroid": run_every_centroid,
    "MiniBatchKMeans (HuBERT)": run_minibatch,
    "KMeans lloyd": run_lloyd,
}
BASELINE = "stage 2 before"


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's peak,
    which Linux carries across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(name: str, paths: dict, k: int, queue) -> None:
    faiss.omp_set_num_threads(mp.cpu_count())
    start = time.perf_counter()
    centroids = METHODS[name](paths, k)
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    queue.put((seconds, peak_mb, centroids))


def measure(name: str, paths: dict, k: int) -> tuple[float, float, np.ndarray]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, paths, k, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def inertia(data: np.ndarray, centroids: np.ndarray) -> float:
    _, value = kmeans.assign(data, centroids)
    return value


def label_formats(ids: dict[str, np.ndarray], frames_per_utt: int, workdir: Path) -> list[tuple]:
    """On-disk size and load time: pseudo_labels.npz against the reference's indented JSON."""
    n = len(next(iter(ids.values())))
    offsets = np.arange(0, n + 1, frames_per_utt, dtype=np.int64)
    utt_ids = np.array([f"utt{i:06d}" for i in range(len(offsets) - 1)])
    npz = workdir / "pseudo_labels.npz"
    np.savez_compressed(npz, utt_ids=utt_ids, offsets=offsets, **ids)
    ref = workdir / "all-clus.json"
    ref.write_text(
        json.dumps(
            {
                f"{u}.wav": [ids[k][s:e].tolist() for k in ids]
                for u, s, e in zip(utt_ids, offsets[:-1], offsets[1:], strict=True)
            },
            indent=4,
        )
    )
    start = time.perf_counter()
    with np.load(npz) as z:
        loaded = {k: z[k] for k in z.files}
    npz_s = time.perf_counter() - start
    start = time.perf_counter()
    json.loads(ref.read_text())
    json_s = time.perf_counter() - start
    assert all(np.array_equal(loaded[k], ids[k]) for k in ids)
    return [
        ("pseudo_labels.npz", npz.stat().st_size / 2**20, npz_s),
        ("indented JSON (reference)", ref.stat().st_size / 2**20, json_s),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--ks", type=int, nargs="+", default=[64, 512])
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=list(METHODS), metavar="NAME"
    )
    args = parser.parse_args()
    methods = [BASELINE, *(m for m in args.methods if m != BASELINE)]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = make_data(args.n, args.dim)
        np.save(workdir / "f32.npy", data)
        np.asarray(data, dtype=np.float16).tofile(workdir / "f16.bin")
        paths = {
            "f32": str(workdir / "f32.npy"),
            "f16": str(workdir / "f16.bin"),
            "shape": data.shape,
        }
        matrix_mb = data.nbytes / 2**20
        print(
            f"{args.n} x {args.dim} float32 frames ({matrix_mb:.0f} MB), {ITERATIONS} iterations,"
            f" {mp.cpu_count()} cores\n"
        )
        header = f"{'K':>5}  {'method':<26} {'seconds':>8} {'speed-up':>9} {'inertia':>14}"
        print(header + f" {'vs before':>10} {'peak RSS MB':>12} {'RSS/matrix':>10}")
        labels = {}
        for k in args.ks:
            rows = {}
            for name in methods:
                seconds, peak_mb, centroids = measure(name, paths, k)
                rows[name] = (seconds, peak_mb, inertia(data, centroids))
                if name == "stage 2":
                    labels[f"k{k}"], _ = kmeans.assign(data, centroids)
            base_s, _, base_inertia = rows[BASELINE]
            for name, (seconds, peak_mb, value) in rows.items():
                print(
                    f"{k:>5}  {name:<26} {seconds:>8.1f} {base_s / seconds:>8.2f}x "
                    f"{value:>14.6g} {100 * (value / base_inertia - 1):>+9.3f}% "
                    f"{peak_mb:>12.0f} {peak_mb / matrix_mb:>10.2f}"
                )
        if labels:
            print(f"\n{'labels file':<28} {'MB':>8} {'load s':>8}")
            for name, size, seconds in label_formats(labels, 250, workdir):
                print(f"{name:<28} {size:>8.1f} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
