"""Stage-2 k-means against scikit-learn, and pseudo_labels.npz against the reference's JSON.

    python benchmarks/kmeans.py [--n 1000000] [--dim 512] [--ks 64 512] [--with-4096]

Data: float32 frames from a Gaussian mixture (200 centres, unit noise). Each method runs in a
fresh process (peak RSS is that process's high-water mark, the data it loads included) on the same
data: the stage-2 path (float16 memory map, faiss Lloyd on a 256*K sample, streamed assignment),
scikit-learn MiniBatchKMeans with fairseq HuBERT simple_kmeans settings (k-means++, n_init 20,
batch 10000, no reassignment), and scikit-learn KMeans (Lloyd, random init); all at 20
iterations. Inertia is recomputed for every method's centroids on the float32 data, so the
figures are comparable. Times include assigning every frame.
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


def run_stage2(paths: dict, k: int) -> np.ndarray:
    n, dim = paths["shape"]
    features = np.memmap(paths["f16"], dtype=np.float16, mode="r", shape=(n, dim))
    centroids = kmeans.fit(features, k, niter=ITERATIONS, seed=0)
    kmeans.assign(features, centroids)
    return centroids


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
    "stage 2 (faiss, f16 memmap)": run_stage2,
    "MiniBatchKMeans (HuBERT)": run_minibatch,
    "KMeans lloyd": run_lloyd,
}


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
    parser.add_argument("--with-4096", action="store_true", help="also K=4096 (slow)")
    args = parser.parse_args()
    ks = [*args.ks, *([4096] if args.with_4096 else [])]
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
        header = f"{'K':>5}  {'method':<28} {'seconds':>8} {'speed-up':>9} {'inertia':>14}"
        print(header + f" {'vs MiniBatch':>12} {'peak RSS MB':>12} {'RSS/matrix':>10}")
        labels = {}
        for k in ks:
            rows = {}
            for name in METHODS:
                seconds, peak_mb, centroids = measure(name, paths, k)
                rows[name] = (seconds, peak_mb, inertia(data, centroids))
            base_s, _, base_inertia = rows["MiniBatchKMeans (HuBERT)"]
            for name, (seconds, peak_mb, value) in rows.items():
                print(
                    f"{k:>5}  {name:<28} {seconds:>8.1f} {base_s / seconds:>8.1f}x "
                    f"{value:>14.4g} {100 * (value / base_inertia - 1):>+11.2f}% "
                    f"{peak_mb:>12.0f} {peak_mb / matrix_mb:>10.2f}"
                )
            labels[f"k{k}"], _ = kmeans.assign(data, kmeans.fit(data, k, ITERATIONS, seed=0))
        print(f"\n{'labels file':<28} {'MB':>8} {'load s':>8}")
        for name, size, seconds in label_formats(labels, 250, workdir):
            print(f"{name:<28} {size:>8.1f} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
