"""Stage 3's bucket sampler: epochs in order, the same batches for a run resumed late, every
utterance once per epoch within the padded budget."""

import numpy as np

from ptapt.data.batching import BucketBatches

SR = 16000


def _lengths(n=300, seed=0) -> np.ndarray:
    seconds = np.clip(np.random.default_rng(seed).lognormal(np.log(3.0), 0.6, n), 0.5, 10.0)
    return (seconds * SR).astype(np.int64)


def test_steps_run_through_the_epochs_in_order_and_a_late_resume_gets_the_same_batches():
    lengths, budget = _lengths(), 40 * SR
    reference = BucketBatches(lengths, budget, seed=3)
    expected = [batch for e in range(6) for batch in reference.epoch(e)]
    sampler = BucketBatches(lengths, budget, seed=3)
    assert all(np.array_equal(sampler.batch(s), b) for s, b in enumerate(expected))
    resumed = BucketBatches(lengths, budget, seed=3)  # a run resumed in its last epoch
    late = len(expected) - len(reference.epoch(5)) // 2
    assert all(np.array_equal(resumed.batch(s), expected[s]) for s in range(late, len(expected)))


def test_each_epoch_holds_every_utterance_once_within_the_budget():
    lengths, budget = _lengths(), 40 * SR
    sampler = BucketBatches(lengths, budget, seed=0)
    for epoch in range(3):
        batches = sampler.epoch(epoch)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
        assert all(len(b) == 1 or lengths[b].max() * len(b) <= budget for b in batches)
    assert not all(
        np.array_equal(a, b) for a, b in zip(sampler.epoch(0), sampler.epoch(1), strict=False)
    )
