"""The demo backbone's pretraining step as stage 3 runs it, with and without the waveform's
gradient.

    python benchmarks/demo_backbone.py [--steps 100] [--rounds 2] [--threads 1]

transformers' feature encoder makes its input waveform require a gradient whenever the encoder
trains; nothing reads it. Stage 3 loads every backbone without it (`stage3.contrastive`),
which leaves every parameter's gradient as it was (tested). This runs the demo recipe's
`backbone_pretraining` steps (its bucketed batches of random crops of the synthetic generic
corpus, the tiny wav2vec 2.0, one thread as `make demo` gives it) through the model as stage 3
loads it and as transformers builds it, alternating `rounds` times so both meet the same
machine; each round's first 10 steps are a warm-up, not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from transformers import Wav2Vec2ForPreTraining

from ptapt.config import stage_config
from ptapt.data.synthetic_corpus import write_corpus
from ptapt.models.backbone import PRESETS, BackboneSpec
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.stages import stage3

WARM_UP = 10


# name -> the demo backbone's TAPT objective for a stage config
OBJECTIVES = {
    "as stage 3 loads it": lambda cfg: stage3.contrastive(
        BackboneSpec(preset="tiny-wav2vec2"), cfg, None, None
    ),
    "waveform gradient (transformers)": lambda cfg: ContrastiveObjective(
        Wav2Vec2ForPreTraining(PRESETS["tiny-wav2vec2"]), cfg
    ),
}


def ms_per_step(build, audio: stage3.Audio, cfg, steps: int) -> float:
    torch.manual_seed(cfg.seed)  # both models start from the same weights
    objective = build(cfg)
    objective.train()
    step_fn = stage3.batch_steps(objective, audio, cfg, torch.device("cpu"))
    optimizer = torch.optim.AdamW(objective.parameters(), cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    for step in range(WARM_UP + steps):
        if step == WARM_UP:
            start = time.perf_counter()
        loss = step_fn(step, 0, rng)[0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recipe = yaml.safe_load(Path("config.yaml").read_text())["recipes"]["demo"]
    cfg = stage_config("tapt", recipe["backbone_pretraining"])
    with tempfile.TemporaryDirectory() as tmp:
        audio = stage3.directory_audio(str(write_corpus(Path(tmp) / "generic", "generic")))
    print(
        f"demo backbone pretraining: {len(audio.ids)} clips, batches of {cfg.batch_seconds:g} s, "
        f"{args.steps} steps per round, {args.threads} thread(s)\n"
    )
    times: dict[str, list[float]] = {name: [] for name in OBJECTIVES}
    print(f"{'round':>5}  {'model':<34} {'ms / step':>9}")
    for round_ in range(1, args.rounds + 1):
        for name, build in OBJECTIVES.items():
            times[name].append(ms_per_step(build, audio, cfg, args.steps))
            print(f"{round_:>5}  {name:<34} {times[name][-1]:>9.1f}")
    stage, plain = (min(t) for t in times.values())
    print(f"\nbest round: without the waveform's gradient {plain / stage:.2f}x faster")


if __name__ == "__main__":
    main()
