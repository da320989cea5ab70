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


def test_stage3_packs_across_buckets_to_the_budget_and_drops_the_leftover():
    """The reference's dynamic batches (fidelity N2): on IEMOCAP-like lengths every batch is
    full, closed only because its next utterance would not fit, and the run's leftover is
    dropped; each utterance at most once per epoch, every one of them but the leftover's."""
    lengths = np.minimum(_lengths(2000), 10 * SR)
    budget = 60 * SR
    sampler = BucketBatches(lengths, budget, seed=0, drop_last=True)
    kept = BucketBatches(lengths, budget, seed=0)
    for epoch in range(2):
        batches = sampler.epoch(epoch)
        seen = np.concatenate(batches)
        assert len(np.unique(seen)) == len(seen)
        leftover = set(range(len(lengths))) - set(seen.tolist())
        assert 0 < len(leftover) and len(batches) == len(kept.epoch(epoch)) - 1
        padded = np.array([lengths[b].max() * len(b) for b in batches])
        assert padded.max() <= budget and padded.min() > budget - 10 * SR
        assert np.mean([lengths[b].sum() for b in batches]) > 0.9 * budget


def test_a_single_batch_epoch_keeps_its_batch():
    lengths = np.full(3, 2 * SR)
    assert len(BucketBatches(lengths, 60 * SR, drop_last=True).batch(5)) == 3


def test_stage4_batches_are_full_and_hold_utterances_of_neighbouring_lengths():
    """Stage 4's use: crops of at most 4 s, batches closed by the item count alone: all full
    but the last, the same number every epoch (its schedule is set in advance), and far less
    padding than random batches of the same utterances."""
    lengths = np.minimum(_lengths(), 4 * SR)
    sampler = BucketBatches(lengths, 16 * 4 * SR, ratio=1.1, seed=0, max_items=16)
    for epoch in range(3):
        batches = sampler.epoch(epoch)
        assert sorted(len(b) for b in batches) == [len(lengths) % 16] + [16] * (len(lengths) // 16)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))

    def padding(batches):
        return np.mean([1 - lengths[b].sum() / (lengths[b].max() * len(b)) for b in batches])

    order = np.random.default_rng(0).permutation(len(lengths))
    random = [order[i : i + 16] for i in range(0, len(order), 16)]
    assert padding(sampler.epoch(0)) < 0.1 < 0.2 < padding(random)
    assert not all(
        np.array_equal(a, b) for a, b in zip(sampler.epoch(0), sampler.epoch(1), strict=False)
    )
