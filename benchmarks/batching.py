"""Stages 3 and 4 batching: length-bucketed batches against random fixed-size batches.

    python benchmarks/batching.py [--utterances 400] [--budget 60] [--steps 30]

Utterance lengths follow an IEMOCAP-like skewed distribution (log-normal, median 3 s, clipped to
0.5-30 s) and are cropped to 10 s as in stage 3. Both samplers get the same memory budget of
padded audio seconds per batch: the dynamic batches pack items up to it; the fixed batches hold
as many items as always fit, budget / 10 s, padded to their longest. The same tiny wav2vec 2.0
trains with the TAPT objective on each, in one run; the table gives the share of computed frames
that are padding and the real audio seconds trained per wall-clock second.

Stage 4 keeps its batch size and takes each utterance's first seconds: random batches of the
same size against the bucket sampler's batches of neighbouring lengths, as padding share at the
paper's setting (4,400 utterances as in an IEMOCAP fold, 64 x 10 s) and the demo's (the
utterances above, 16 x 4 s), and as audio seconds fine-tuned per second (the tiny backbone,
partial mode, bf16 where the CPU has it) at the demo's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ptapt.config import stage_config
from ptapt.data.batching import BucketBatches, collate, epoch_batch, random_crops
from ptapt.models.backbone import (
    PRESETS,
    BackboneSpec,
    conv_layout,
    load_backbone,
    load_for_pretraining,
)
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier
from ptapt.training.loop import amp_dtype

SR = 16000
CROP_S = 10.0


def run(name, batch_of, waves, steps, layout) -> dict:
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = stage_config("tapt", mask_prob=0.3, loss_reduction="mean")
    objective = ContrastiveObjective(
        load_for_pretraining(BackboneSpec(preset="tiny-wav2vec2")), cfg
    )
    optimizer = torch.optim.Adam(objective.parameters(), lr=1e-4)
    cpu = torch.device("cpu")
    rng = np.random.default_rng(0)
    real = computed = seconds = seconds_real = 0.0
    for step in range(steps + 2):
        idx = batch_of(step)
        crops, _ = random_crops([waves[i] for i in idx], int(CROP_S * SR), 320, rng)
        start = time.perf_counter()
        batch = collate(crops, layout, False, cpu)
        lengths, valid = batch.lengths, batch.valid
        loss, _ = objective(batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 2:  # the first steps warm up allocators and caches
            seconds += time.perf_counter() - start
            seconds_real += lengths.sum() / SR
            real += valid.sum()
            computed += valid.size
    return {"name": name, "padding": 1 - real / computed, "rate": seconds_real / seconds}


def padding(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    return 1 - sum(lengths[b].sum() for b in batches) / sum(
        lengths[b].max() * len(b) for b in batches
    )


def stage4_batches(lengths: np.ndarray, size: int, crop: int) -> dict[str, list[np.ndarray]]:
    """One epoch of each sampler over the first `crop` samples of every utterance."""
    cropped = np.minimum(lengths, crop)
    per_epoch = len(lengths) // size
    bucketed = BucketBatches(cropped, size * crop, ratio=1.1, seed=0, max_items=size)
    return {
        f"random batches of {size}": [
            epoch_batch(len(lengths), size, s, 0) for s in range(per_epoch)
        ],
        f"bucketed batches of {size}": bucketed.epoch(0),
    }


def fine_tune_rate(waves, batches: list[np.ndarray], layout) -> float:
    """Audio seconds fine-tuned per second by the tiny backbone (partial mode) on `batches`."""
    torch.manual_seed(0)
    model = UtteranceClassifier(
        load_backbone(BackboneSpec(preset="tiny-wav2vec2")), ClassifierConfig(["a", "b"])
    ).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    dtype = amp_dtype("auto", torch.device("cpu"))
    seconds = audio = 0.0
    for step, idx in enumerate(batches):
        start = time.perf_counter()
        batch = collate([waves[i] for i in idx], layout, True, torch.device("cpu"))
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = model(batch)
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.zeros(len(idx)).long())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 2:  # the first steps warm up allocators and caches
            seconds += time.perf_counter() - start
            audio += batch.lengths.sum() / SR
    return audio / seconds


def stage4(durations: dict[str, np.ndarray], layout) -> None:
    print("\nstage 4: first seconds of each utterance, one epoch\n")
    print(f"{'setting':<22} {'sampler':<26} {'batches':>8} {'padding':>8} {'audio s / s':>12}")
    for setting, size, crop_s in (("paper", 64, 10.0), ("demo", 16, 4.0)):
        lengths, crop = (durations[setting] * SR).astype(np.int64), int(crop_s * SR)
        waves = [np.zeros(min(n, crop), dtype=np.float32) for n in lengths]
        label = f"{setting}: {len(lengths)} x <= {crop_s:g} s"
        rates = {}
        for name, batches in stage4_batches(lengths, size, crop).items():
            rate = fine_tune_rate(waves, batches, layout) if setting == "demo" else None
            rates[name] = rate
            shown = f"{rate:>12.1f}" if rate else f"{'':>12}"
            print(
                f"{label:<22} {name:<26} {len(batches):>8} "
                f"{padding(np.minimum(lengths, crop), batches):>8.1%} {shown}"
            )
        if setting == "demo":
            random_rate, bucketed_rate = rates.values()
            print(f"{'':<22} bucketed / random: {bucketed_rate / random_rate:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=400)
    parser.add_argument("--budget", type=float, default=60.0, help="padded seconds per batch")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    durations = np.clip(rng.lognormal(np.log(3.0), 0.6, args.utterances), 0.5, 30.0)
    waves = [rng.standard_normal(int(d * SR)).astype(np.float32) * 0.1 for d in durations]
    layout = conv_layout(PRESETS["tiny-wav2vec2"])
    lengths = np.array([min(len(w), int(CROP_S * SR)) for w in waves])
    dynamic = BucketBatches(lengths, int(args.budget * SR), ratio=1.1, seed=0)
    size = int(args.budget // CROP_S)
    print(
        f"{args.utterances} utterances, median {np.median(durations):.1f} s, max "
        f"{durations.max():.1f} s, crops <= {CROP_S:.0f} s; budget {args.budget:.0f} padded s "
        f"per batch; {args.steps} steps each\n"
    )
    rows = [
        run(
            f"fixed batches of {size}",
            lambda s: epoch_batch(len(waves), size, s, 0),
            waves,
            args.steps,
            layout,
        ),
        run("bucketed dynamic batches", dynamic.batch, waves, args.steps, layout),
    ]
    base = rows[0]["rate"]
    print(f"{'sampler':<28} {'padding':>8} {'audio s / s':>12} {'ratio':>7}")
    for row in rows:
        print(
            f"{row['name']:<28} {row['padding']:>8.1%} {row['rate']:>12.1f} "
            f"{row['rate'] / base:>6.2f}x"
        )
    paper = np.clip(rng.lognormal(np.log(3.0), 0.6, 4400), 0.5, 30.0)  # an IEMOCAP fold
    stage4({"paper": paper, "demo": durations}, layout)


if __name__ == "__main__":
    main()
