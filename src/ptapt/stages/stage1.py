"""Stage 1: wav2vec 1.0 fine-tuned for frame-level emotion, on one fold's training utterances.

Every frame carries its utterance's label. Batches are cropped to their shortest utterance, so
no padding reaches the group-normalised encoder. Writes to the output directory:
model.safetensors, config.json (model config, stage config, label order), metrics.json
(frame- and utterance-level UA on held-out utterances), train_ids.txt, curve.csv.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ptapt.atomic import write_csv, write_json, write_lines
from ptapt.data.audio import load_many
from ptapt.data.batching import crop_to_shortest, epoch_batch
from ptapt.data.folds import read_fold, split_share
from ptapt.data.manifest import label_ids, read_manifest, select
from ptapt.metrics import unweighted_accuracy
from ptapt.models import wav2vec1
from ptapt.models.backbone import BackboneSpec, backbone_config, conv_layout
from ptapt.models.frame_classifier import FrameEmotionModel, FrameModelConfig, save_frame_model
from ptapt.training.checkpoint import ResumeCheckpoint, digest, fingerprint
from ptapt.training.loop import LoopSettings, pick_device, train
from ptapt.training.losses import class_weights
from ptapt.training.schedule import adam_with_schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage1Config:
    wav2vec1: str = "wav2vec_large.pt"  # fairseq checkpoint path, or a preset name (tiny)
    freeze_encoder: bool = True
    head_hidden: int = 128
    steps: int = 10000
    batch_size: int = 64
    lr: float = 1e-4
    warmup: float = 0.05
    flat: float = 0.05
    holdout_share: float = 0.1  # held out of training when the fold has no validation ids
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"


def run(
    manifest: str,
    fold_file: str,
    cfg: Stage1Config,
    labels: list[str],
    backbone: BackboneSpec,
    out_dir: str,
    work_dir: str,
) -> dict:
    rows = read_manifest(manifest)
    fold = read_fold(fold_file)
    fold_train = select(rows, fold.train, fold_file)
    if fold.valid:
        train_rows, held_rows, held_from = (
            fold_train,
            select(rows, fold.valid, fold_file),
            "fold valid",
        )
    else:
        kept, held = split_share(fold_train, cfg.holdout_share, cfg.seed)
        train_rows, held_rows = select(rows, kept, fold_file), select(rows, held, fold_file)
        held_from = f"{cfg.holdout_share:.0%} of the fold's training utterances"
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    encoder = wav2vec1.build(cfg.wav2vec1)
    model_cfg = FrameModelConfig(
        encoder.config,
        conv_layout(backbone_config(backbone)),
        list(labels),
        cfg.head_hidden,
        cfg.freeze_encoder,
    )
    model = FrameEmotionModel(model_cfg, encoder).to(device)

    waves = load_many([r.path for r in train_rows], "loading training audio")
    targets = np.array(label_ids(train_rows, labels))
    weight = class_weights(targets, len(labels)).to(device)

    def step_fn(step, micro, rng):
        idx = epoch_batch(len(waves), cfg.batch_size, step, cfg.seed)
        batch = torch.from_numpy(crop_to_shortest([waves[i] for i in idx], rng)).to(device)
        target = torch.as_tensor(targets[idx], device=device)
        frame_logits, utt_logits = model(batch)
        frames = frame_logits.shape[1]
        frame_loss = F.cross_entropy(
            frame_logits.flatten(0, 1).float(), target.repeat_interleave(frames), weight=weight
        )
        utt_loss = F.cross_entropy(utt_logits.float(), target, weight=weight)
        frame_acc = (frame_logits.argmax(-1) == target[:, None]).float().mean()
        return frame_loss + utt_loss, {
            "frame_loss": frame_loss.item(),
            "utterance_loss": utt_loss.item(),
            "frame_acc": frame_acc.item(),
        }

    optimizer, scheduler = adam_with_schedule(model, cfg.lr, cfg.steps, cfg.warmup, cfg.flat)
    settings = LoopSettings(
        steps=cfg.steps,
        seed=cfg.seed,
        checkpoint_every=cfg.checkpoint_every,
        log_every=cfg.log_every,
        amp=cfg.amp,
    )
    key = fingerprint(
        [
            asdict(cfg),
            model_cfg.to_dict(),
            [r.utt_id for r in train_rows],
            digest(waves),
            digest(model.state_dict().values()),
        ]
    )
    checkpoint = ResumeCheckpoint(work_dir, key)
    curve = train(model, optimizer, scheduler, step_fn, settings, checkpoint, device, "stage 1")

    held = evaluate(
        model,
        load_many([r.path for r in held_rows], "loading held-out audio"),
        [r.label for r in held_rows],
        device,
    )
    metrics = {
        **held,
        "held_out": held_from,
        "n_train": len(train_rows),
        "n_held_out": len(held_rows),
        "steps": cfg.steps,
        "first_loss": curve[0]["loss"] if curve else None,
        "last_loss": curve[-1]["loss"] if curve else None,
    }
    out = Path(out_dir)
    save_frame_model(model, out, {"stage1": asdict(cfg), "backbone": asdict(backbone)})
    write_lines(out / "train_ids.txt", [r.utt_id for r in train_rows])
    write_csv(out / "curve.csv", curve)
    write_json(out / "metrics.json", metrics)
    checkpoint.remove()
    log.info(
        "stage 1: frame UA %.3f, utterance UA %.3f on %d held-out utterances",
        held["frame_ua"],
        held["utterance_ua"],
        len(held_rows),
    )
    return metrics


@torch.no_grad()
def evaluate(model: FrameEmotionModel, waves, labels: list[str], device) -> dict:
    """Frame- and utterance-level UA on full utterances, one at a time (no padding)."""
    model.eval()
    names = model.config.labels
    frame_true, frame_pred, utt_pred = [], [], []
    for wave, label in zip(waves, labels, strict=True):
        frame_logits, utt_logits = model(torch.from_numpy(wave)[None].to(device))
        frames = frame_logits[0].argmax(-1).tolist()
        frame_true += [label] * len(frames)
        frame_pred += [names[k] for k in frames]
        utt_pred.append(names[int(utt_logits[0].argmax())])
    return {
        "frame_ua": unweighted_accuracy(frame_true, frame_pred),
        "frame_accuracy": float(np.mean(np.array(frame_true) == np.array(frame_pred))),
        "utterance_ua": unweighted_accuracy(labels, utt_pred),
    }
