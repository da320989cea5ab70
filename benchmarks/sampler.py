"""Stage 3's bucket sampler: the cost of choosing one batch, early and late in a run.

    python benchmarks/sampler.py [--utterances 4400] [--budget 250]

IEMOCAP-sized lengths (log-normal, median 3 s, clipped to 0.5-30 s, cropped to 10 s) and the
paper's 250 s padded budget. `walk` is the sampler as it was: every call walked the epochs from
the first, rebuilding each one; `ptapt` records each epoch's end once and bisects. Each row
times one call at that step on a fresh sampler after a call at the step before (what training
does), and the table gives both and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ptapt.data.batching import BucketBatches

SR = 16000


def walk_batch(sampler: BucketBatches, step: int) -> np.ndarray:
    """The previous implementation, kept here only to be measured against."""
    epoch = 0
    while step >= len(sampler.epoch(epoch)):
        step -= len(sampler.epoch(epoch))
        epoch += 1
    return sampler.epoch(epoch)[step]


def seconds_per_call(lengths, budget, step, choose) -> float:
    sampler = BucketBatches(lengths, int(budget * SR))
    choose(sampler, step - 1)  # warm: training reached step - 1 with this sampler
    start = time.perf_counter()
    chosen = choose(sampler, step)
    elapsed = time.perf_counter() - start
    assert np.array_equal(chosen, walk_batch(BucketBatches(lengths, int(budget * SR)), step))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=4400)
    parser.add_argument("--budget", type=float, default=250.0, help="padded seconds per batch")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    seconds = np.clip(rng.lognormal(np.log(3.0), 0.6, args.utterances), 0.5, 30.0)
    lengths = (np.minimum(seconds, 10.0) * SR).astype(np.int64)
    batches = len(BucketBatches(lengths, int(args.budget * SR)).epoch(0))
    print(f"{args.utterances} utterances, {batches} batches per epoch\n")
    print(f"{'step':>6}  {'walk ms':>9}  {'ptapt ms':>9}  {'ratio':>7}")
    for step in (1, 1000, 5000, 10000, 19999):
        walk = seconds_per_call(lengths, args.budget, step, walk_batch)
        ours = seconds_per_call(lengths, args.budget, step, BucketBatches.batch)
        print(f"{step:>6}  {1000 * walk:>9.3f}  {1000 * ours:>9.3f}  {walk / ours:>7.0f}")


if __name__ == "__main__":
    main()
