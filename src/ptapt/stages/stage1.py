"""Stage 1: wav2vec 1.0 fine-tuned for frame-level emotion, on one fold's training utterances.

Every frame carries its utterance's label. Batches are cropped to their shortest utterance, so
no padding reaches the group-normalised encoder. Writes to the output directory:
model.safetensors, config.json (model config, stage config, label order), metrics.json
(frame- and utterance-level UA on held-out utterances), train_ids.txt, curve.csv.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from ptapt.config import Stage1Config
from ptapt.data.audio import load_rows
from ptapt.data.batching import crop_to_shortest, epoch_batch
from ptapt.data.folds import read_fold, split_share
from ptapt.data.manifest import label_ids, read_manifest, select
from ptapt.errors import PtaptError
from ptapt.metrics import unweighted_accuracy
from ptapt.models import wav2vec1
from ptapt.models.backbone import BackboneSpec, backbone_config, conv_layout
from ptapt.models.frame_classifier import (
    FrameClassifier,
    FrameClassifierConfig,
    save_frame_classifier,
)
from ptapt.training.checkpoint import digest
from ptapt.training.fit import finish, fit, prepare, run_fingerprint
from ptapt.training.losses import class_weights
from ptapt.training.selection import BestWeights

log = logging.getLogger(__name__)


def run(
    manifest: str,
    fold_file: str,
    cfg: Stage1Config,
    labels: list[str],
    backbone: BackboneSpec,
    out_dir: str,
    work_dir: str,
) -> dict:
    train_rows, held_rows, held_from = training_split(manifest, fold_file, cfg)
    device = prepare(cfg.device, cfg.seed)
    model = build_model(cfg, labels, backbone).to(device)
    waves = load_rows(train_rows, "loading training audio")
    targets = np.array(label_ids(train_rows, labels))
    weight = class_weights(targets, len(labels)).to(device)
    held_waves = load_rows(held_rows, "loading held-out audio")
    identity = [model.config.to_dict(), [r.utt_id for r in train_rows], digest(waves)]
    key = run_fingerprint(model, cfg, cfg.steps, cfg.seed, identity, "stage 1")  # before training
    best = BestWeights(model, work_dir, key)
    every = cfg.eval_every or max(1, len(waves) // cfg.batch_size)  # default: each epoch
    held_labels = label_ids(held_rows, labels)
    select = held_out_selection(best, held_waves, held_labels, weight, cfg, every)
    curve = fit(
        model,
        frame_steps(model, waves, targets, weight, cfg),
        cfg,
        steps=cfg.steps,
        seed=cfg.seed,
        work_dir=work_dir,
        fingerprint=key,
        device=device,
        desc="stage 1",
        after_step=select,
    )
    selected = best.restore() or cfg.steps
    held = evaluate(model, held_waves, [r.label for r in held_rows], device)
    metrics = {**held, "held_out": held_from, "n_train": len(train_rows)}
    metrics.update(n_held_out=len(held_rows), steps=cfg.steps, selected_step=selected)
    metrics["held_out_loss"] = {str(k): -v for k, v in best.history.items()} or None
    metrics.update(first_loss=curve[0]["loss"] if curve else None)
    metrics.update(last_loss=curve[-1]["loss"] if curve else None)
    save_frame_classifier(model, out_dir, {"stage1": asdict(cfg), "backbone": asdict(backbone)})
    finish(out_dir, work_dir, [r.utt_id for r in train_rows], curve, metrics)
    best.remove()
    log.info("stage 1: %s on %d held-out utterances", held, len(held_rows))
    return metrics


def build_model(cfg: Stage1Config, labels: list[str], backbone: BackboneSpec) -> FrameClassifier:
    """wav2vec 1.0 (a checkpoint or a preset) with the aligner to the backbone's frames."""
    encoder = wav2vec1.build(cfg.wav2vec1)
    channels = encoder.config.conv_feature_layers[-1][0]
    if cfg.mask_feature_prob > 0 and cfg.mask_feature_length > channels:
        raise PtaptError(
            f"config stage1.mask_feature_length: {cfg.mask_feature_length} exceeds the "
            f"{channels} channels of {cfg.wav2vec1!r}'s encoder output"
        )
    target_layout = conv_layout(backbone_config(backbone))
    model_cfg = FrameClassifierConfig(
        encoder.config,
        target_layout,
        list(labels),
        cfg.head_hidden,
        cfg.freeze_encoder,
        cfg.spec_augment(),
    )
    return FrameClassifier(model_cfg, encoder)


def held_out_selection(
    best: BestWeights, waves, labels: list[int], weight, cfg: Stage1Config, every: int
):
    """after_step hook: with `keep: best`, the held-out loss every `every` steps and at the
    end, recorded in `best`."""
    targets = np.array(labels)

    def select(done: int) -> None:
        if cfg.keep == "best" and waves and (done % every == 0 or done == cfg.steps):
            best.record(done, -held_out_loss(best.model, waves, targets, weight))

    return select


def training_split(manifest: str, fold_file: str, cfg: Stage1Config):
    """(training rows, held-out rows, where the held-out rows come from): the fold's validation
    ids, or else a stratified share of its training ids."""
    rows = read_manifest(manifest)
    fold = read_fold(fold_file)
    fold_train = select(rows, fold.train, fold_file)
    if fold.valid:
        return fold_train, select(rows, fold.valid, fold_file), "fold valid"
    kept, held = split_share(fold_train, cfg.holdout_share, cfg.seed, "stage1.holdout_share")
    held_from = f"{cfg.holdout_share:.0%} of the fold's training utterances"
    return select(rows, kept, fold_file), select(rows, held, fold_file), held_from


def frame_steps(model: FrameClassifier, waves, targets: np.ndarray, weight, cfg: Stage1Config):
    """The training step: class-weighted cross-entropy on every frame and on the utterance."""
    device = weight.device

    def step_fn(step, micro, rng):
        idx = epoch_batch(len(waves), cfg.batch_size, step * cfg.accumulation + micro, cfg.seed)
        batch = torch.from_numpy(crop_to_shortest([waves[i] for i in idx], rng)).to(device)
        target = torch.as_tensor(targets[idx], device=device)
        frame_logits, utt_logits = model(batch)
        frame_loss, utt_loss = losses(frame_logits, utt_logits, target, weight)
        frame_acc = (frame_logits.argmax(-1) == target[:, None]).float().mean()
        return frame_loss + utt_loss, {
            "frame_loss": frame_loss.item(),
            "utterance_loss": utt_loss.item(),
            "frame_acc": frame_acc.item(),
        }

    return step_fn


def losses(frame_logits, utt_logits, target, weight) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-weighted cross-entropy of every frame (each carries its utterance's label) and of
    the utterance."""
    frames = frame_logits.shape[1]
    frame_loss = F.cross_entropy(
        frame_logits.flatten(0, 1).float(), target.repeat_interleave(frames), weight=weight
    )
    return frame_loss, F.cross_entropy(utt_logits.float(), target, weight=weight)


@torch.no_grad()
def held_out_loss(model: FrameClassifier, waves, targets: np.ndarray, weight) -> float:
    """The training loss on full held-out utterances, one at a time, weighted by class as in
    training (the quantity the reference's checkpoint minimised)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for wave, label in zip(waves, targets, strict=True):
        target = torch.tensor([label], device=weight.device)
        frame_logits, utt_logits = model(torch.from_numpy(wave)[None].to(weight.device))
        frame_loss, utt_loss = losses(frame_logits, utt_logits, target, None)
        total += weight[label].item() * (frame_loss + utt_loss).item()
    model.train(was_training)
    return total / weight[torch.from_numpy(targets)].sum().item()


@torch.no_grad()
def evaluate(model: FrameClassifier, waves, labels: list[str], device) -> dict:
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
