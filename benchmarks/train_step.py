"""One training step of each stage at the paper's model sizes: FLOPs, seconds, and how close
they come to this machine's own matmul peak, in float32 and in the precision `amp: auto` picks
here (bf16 autocast on a CPU with AVX-512 BF16 or AMX, float32 on others).

    python benchmarks/train_step.py [--seconds 5] [--batch 2] [--repeats 3]

Models are built from their configurations (random weights, nothing downloaded): wav2vec 2.0
base (stages 3 and 4) and wav2vec 1.0 large (stage 1). Every step runs forward, backward and
the optimizer through the project's own objectives on `batch` clips of `seconds` seconds.
FLOPs are counted by torch's FlopCounterMode (matmuls and convolutions, forward and backward);
a step's time is the median of `repeats` after one warm-up. The peak is the best float32
matmul rate (1024 to 4096 square) timed in the same run, so the ratio is to this machine as it
is now; convolutions (stage 1's) can run above it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining, Wav2Vec2Model

from ptapt.config import stage_config
from ptapt.data.batching import collate
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.models.backbone import conv_layout
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.frame_classifier import FrameClassifier, FrameClassifierConfig
from ptapt.models.frames import num_frames
from ptapt.models.masked_prediction import MaskedClusterObjective
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier
from ptapt.models.wav2vec1 import LARGE
from ptapt.training.loop import amp_dtype, precision

SR = 16000
LABELS = ["neu", "hap", "ang", "sad"]
BASE = Wav2Vec2Config(apply_spec_augment=True, mask_feature_prob=0.0)  # wav2vec2-base sizes


def matmul_peak(repeats: int = 5) -> float:
    """GFLOP/s of float32 matmuls, the best of three sizes: this machine's practical peak."""
    best = 0.0
    for size in (1024, 2048, 4096):
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def batch_of(waves, layout, ids=None):
    return collate(waves, layout, True, torch.device("cpu"), ids=ids)


def ptapt_step(waves, workdir: Path):
    """P-TAPT on wav2vec2-base with heads for K = 64, 512, 4096 (random pseudo-labels)."""
    backbone = Wav2Vec2Model(BASE)
    layout = conv_layout(BASE)
    counts = [num_frames(len(w), layout) for w in waves]
    rng = np.random.default_rng(0)
    arrays = {f"k{k}": rng.integers(0, k, sum(counts)) for k in (64, 512, 4096)}
    path = workdir / "pseudo_labels.npz"
    ids = [f"u{i}" for i in range(len(waves))]
    np.savez(
        path, utt_ids=np.array(ids), offsets=np.concatenate([[0], np.cumsum(counts)]), **arrays
    )
    objective = MaskedClusterObjective(backbone, PseudoLabels(path), stage_config("ptapt"))
    return objective, lambda: objective(batch_of(waves, layout, ids), 0)[0]


def tapt_step(waves, workdir: Path):
    model = Wav2Vec2ForPreTraining(BASE)
    objective = ContrastiveObjective(model, stage_config("tapt"))
    return objective, lambda: objective(batch_of(waves, conv_layout(BASE)), 0)[0]


def finetune_step(waves, workdir: Path):
    config = Wav2Vec2Config(apply_spec_augment=True)
    model = UtteranceClassifier(Wav2Vec2Model(config), ClassifierConfig(LABELS))
    target = torch.zeros(len(waves), dtype=torch.long)
    return model, lambda: F.cross_entropy(model(batch_of(waves, conv_layout(config))), target)


def stage1_step(waves, workdir: Path):
    config = FrameClassifierConfig(LARGE, [tuple(x) for x in conv_layout(BASE)], LABELS)
    model = FrameClassifier(config)
    length = min(len(w) for w in waves)
    wav = torch.from_numpy(np.stack([w[:length] for w in waves]))

    def loss():
        frames, utterance = model(wav)
        return frames.float().mean() + utterance.float().mean()

    return model, loss


STAGES = {
    "stage 1 (wav2vec 1.0 large)": stage1_step,
    "TAPT (wav2vec2-base)": tapt_step,
    "P-TAPT (wav2vec2-base, 3 heads)": ptapt_step,
    "fine-tuning (wav2vec2-base, partial)": finetune_step,
}


def measure(build, waves, dtype: torch.dtype | None, repeats: int) -> tuple[float, float]:
    """(GFLOP, median seconds) of one optimizer step."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model, loss_fn = build(waves, Path(tmp))
        model.train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-5)
        cast = torch.autocast("cpu", dtype=dtype) if dtype is not None else nullcontext()

        def step():
            np.random.seed(0)
            optimizer.zero_grad()
            with cast:
                loss = loss_fn()
            loss.backward()
            optimizer.step()

        counter = FlopCounterMode(display=False)
        with counter:
            step()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return counter.get_total_flops() / 1e9, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    waves = [0.1 * rng.standard_normal(int(args.seconds * SR)).astype(np.float32)] * args.batch
    peak = matmul_peak()
    cpu = torch.device("cpu")
    print(
        f"{args.batch} x {args.seconds:g} s per step, {torch.get_num_threads()} threads; "
        f"float32 matmul peak {peak:.0f} GFLOP/s; amp auto = {precision('auto', cpu)} here\n"
    )
    print(
        f"{'stage':<38} {'GFLOP':>7} {'fp32 s':>7} {'GFLOP/s':>8} {'of peak':>8} "
        f"{'auto s':>7} {'speed-up':>8}"
    )
    for name, build in STAGES.items():
        gflop, fp32 = measure(build, waves, None, args.repeats)
        _, auto = measure(build, waves, amp_dtype("auto", cpu), args.repeats)
        rate = gflop / fp32
        print(
            f"{name:<38} {gflop:>7.0f} {fp32:>7.2f} {rate:>8.0f} {rate / peak:>7.0%} "
            f"{auto:>7.2f} {fp32 / auto:>7.2f}x"
        )


if __name__ == "__main__":
    main()
