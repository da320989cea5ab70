"""Stage 4: utterance-level fine-tuning and evaluation on one fold, for one method and seed.

Trains the utterance classifier on the fold's training utterances (their first 10 s, in batches
of similar lengths) with class-weighted cross-entropy and SpecAugment; a frozen backbone runs
once per utterance (data/feature_cache.py). Then tests on the fold's test utterances at full
length, one at a time, so padding cannot change a prediction. Without validation ids the last
epoch is tested (the paper); with them, the epoch of best validation UA. Writes metrics.json,
predictions.tsv, model/ (loadable by `load_classifier`), train_ids.txt and curve.csv."""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ptapt.config import FinetuneConfig
from ptapt.data.audio import SAMPLE_RATE, load_rows
from ptapt.data.batching import BucketBatches, collate
from ptapt.data.feature_cache import FeatureCache
from ptapt.data.folds import read_fold
from ptapt.data.manifest import label_ids, read_manifest, select
from ptapt.data.predictions import write_predictions
from ptapt.metrics import classification_report, unweighted_accuracy
from ptapt.models.backbone import BackboneSpec, conv_layout, load_backbone
from ptapt.models.frames import num_frames
from ptapt.models.masking import padded_time_mask, uses_attention_mask
from ptapt.models.utterance_classifier import (
    ClassifierConfig,
    UtteranceClassifier,
    save_classifier,
)
from ptapt.training.checkpoint import digest
from ptapt.training.fit import finish, fit, prepare, run_fingerprint
from ptapt.training.loop import amp_dtype
from ptapt.training.losses import class_weights
from ptapt.training.selection import BestWeights

log = logging.getLogger(__name__)


def run(
    manifest: str,
    fold_file: str,
    init: BackboneSpec,
    method: str,
    seed: int,
    cfg: FinetuneConfig,
    labels: list[str],
    out_dir: str,
    work_dir: str,
) -> dict:
    rows, fold = read_manifest(manifest), read_fold(fold_file)
    train_rows, valid_rows, test_rows = (
        select(rows, ids, fold_file) for ids in (fold.train, fold.valid, fold.test)
    )
    device = prepare(cfg.device, seed)
    model = build_classifier(init, cfg, labels).to(device)
    crop = int(cfg.max_train_seconds * SAMPLE_RATE)
    waves = [w[:crop] for w in load_rows(train_rows, "loading training audio")]
    targets = np.array(label_ids(train_rows, labels))
    batches = length_buckets(waves, crop, cfg, seed)
    per_epoch = max(1, len(batches.epoch(0)) // cfg.accumulation)  # optimizer steps
    identity = [method, labels, [r.utt_id for r in train_rows], fold.valid, digest(waves)]
    steps = cfg.epochs * per_epoch
    key = run_fingerprint(model, cfg, steps, seed, identity, f"finetune {method}")
    best = BestWeights(model, work_dir, key)
    validation = Validation(model, valid_rows, labels, best)
    with frozen_features(model, waves, cfg, device, work_dir) as cache:
        if cfg.standardize:
            model.standardize(pooled_features(model, waves, batches, cfg, device, cache))
        curve = fit(
            model,
            utterance_steps(model, waves, targets, batches, cfg, device, cache),
            cfg,
            steps=steps,
            seed=seed,
            work_dir=work_dir,
            fingerprint=key,
            device=device,
            desc=f"finetune {method}",
            after_step=lambda done: validation.after_step(done, per_epoch),
        )
    selected = best.restore() or cfg.epochs
    metrics = test(model, test_rows, labels, out_dir)
    metrics.update(method=method, fold=fold.fold, seed=seed, selected_epoch=selected)
    metrics.update(valid_ua_per_epoch=best.history or None, n_train=len(train_rows))
    metrics.update(n_valid=len(valid_rows), mode=cfg.mode, **parameter_counts(model))
    metrics.update(training_loss(curve, len(labels)))
    extra = {"method": method, "seed": seed, "finetune": asdict(cfg)}
    save_classifier(model, Path(out_dir) / "model", extra)
    finish(out_dir, work_dir, [r.utt_id for r in train_rows], curve, metrics)
    best.remove()
    figures = ", ".join(f"{k} {metrics[k]:.3f}" for k in ("ua", "wa", "macro_f1"))
    log.info("finetune %s fold %d seed %d: %s", method, fold.fold, seed, figures)
    return metrics


def parameter_counts(model: torch.nn.Module) -> dict:
    """Trainable and total parameters: what a mode (frozen, LoRA, partial, entire) trains."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "trainable_parameters": trainable,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def training_loss(curve: list[dict], n_classes: int) -> dict:
    """First and last logged training loss, and chance: the class-weighted cross-entropy of a
    uniform guess, ln(classes)."""
    return {
        "train_loss_first": curve[0]["loss"] if curve else None,
        "train_loss_last": curve[-1]["loss"] if curve else None,
        "train_loss_chance": float(np.log(n_classes)),
    }


def build_classifier(init: BackboneSpec, cfg: FinetuneConfig, labels) -> UtteranceClassifier:
    """The backbone with SpecAugment switched on, and the head of `cfg.mode`."""
    backbone = load_backbone(init, **cfg.spec_augment())
    modes = ClassifierConfig(
        list(labels),
        cfg.mode,
        cfg.layer_weights,
        cfg.lora_rank,
        cfg.lora_alpha,
        cfg.pooling,
        cfg.standardize,
    )
    return UtteranceClassifier(backbone, modes)


def length_buckets(waves, crop: int, cfg: FinetuneConfig, seed: int) -> BucketBatches:
    """Batches of `batch_size` utterances of neighbouring lengths (the last of an epoch may be
    smaller). Every batch fits the budget of batch_size full crops, so only the item count
    closes one: every epoch has ceil(utterances / batch_size) batches."""
    lengths = np.array([len(w) for w in waves])
    return BucketBatches(lengths, cfg.batch_size * crop, cfg.bucket_ratio, seed, cfg.batch_size)


@contextmanager
def frozen_features(model, waves, cfg: FinetuneConfig, device, work_dir: str):
    """The frozen mode's feature cache, in a temporary folder of the run's work dir, deleted
    after training; None in the other modes, whose backbone trains."""
    if cfg.mode != "frozen":
        yield None
        return
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".features.") as tmp:
        dtype = amp_dtype(cfg.amp, device)
        yield FeatureCache.build(model, waves, Path(tmp) / "frozen.f16", device, dtype)


@torch.no_grad()
def pooled_features(model, waves, batches: BucketBatches, cfg: FinetuneConfig, device, cache):
    """(N, D) pooled features of the training crops under the initial backbone, in eval mode
    (no dropout, no SpecAugment), batched as in training."""
    model.eval()
    layout = conv_layout(model.backbone.config)
    use_attention = cfg.mask_padding or uses_attention_mask(model.backbone.config)
    pooled = []
    for idx in batches.epoch(0):
        if cache is None:
            batch = collate([waves[i] for i in idx], layout, use_attention, device)
            pooled.append(model.pool(model.features(batch), batch.valid_mask))
        else:
            pooled.append(model.pool(*cache.batch(idx, device)))
    model.train()
    return torch.cat(pooled).float()


def utterance_steps(
    model, waves, targets, batches: BucketBatches, cfg: FinetuneConfig, device, cache=None
):
    """The training step: class-weighted cross-entropy on a padded batch of utterances, or on
    their features in `cache` (a frozen backbone's)."""
    weight = class_weights(targets, len(model.config.labels)).to(device)
    layout = conv_layout(model.backbone.config)
    use_attention = cfg.mask_padding or uses_attention_mask(model.backbone.config)
    crop_frames = num_frames(int(cfg.max_train_seconds * SAMPLE_RATE), layout)

    def step_fn(step, micro, rng):
        idx = batches.batch(step * cfg.accumulation + micro)
        if cache is None:
            batch = collate([waves[i] for i in idx], layout, use_attention, device)
            logits = model(batch, spec_time_mask(batch, cfg, crop_frames))
        else:
            logits = model.classify(*cache.batch(idx, device))
        target = torch.as_tensor(targets[idx], device=device)
        loss = F.cross_entropy(logits.float(), target, weight=weight)
        accuracy = (logits.argmax(-1) == target).float().mean().item()
        return loss, {"accuracy": accuracy}

    return step_fn


def spec_time_mask(batch, cfg: FinetuneConfig, crop_frames: int) -> torch.Tensor | None:
    """SpecAugment's time spans for a training batch, drawn as the reference draws them."""
    if cfg.mask_time_prob <= 0:
        return None
    mask = padded_time_mask(
        batch.valid, cfg.mask_time_prob, cfg.mask_time_length, cfg.mask_time_min_masks, crop_frames
    )
    return torch.from_numpy(mask).to(batch.wav.device)


def test(model: UtteranceClassifier, rows, labels: list[str], out_dir: str) -> dict:
    """Score the test utterances at full length; writes predictions.tsv."""
    probabilities = model.probabilities(load_rows(rows, "loading test audio"))
    predicted = write_predictions(Path(out_dir) / "predictions.tsv", rows, probabilities, labels)
    return classification_report([r.label for r in rows], predicted, labels, probabilities)


class Validation:
    """UA on the validation ids at every epoch end; the best epoch's weights are kept."""

    def __init__(self, model: UtteranceClassifier, rows, labels, best: BestWeights):
        self.model, self.rows, self.labels, self.best = model, rows, labels, best
        self.waves = load_rows(rows, "loading validation audio")

    def after_step(self, done: int, per_epoch: int) -> None:
        if not self.rows or done % per_epoch:
            return
        epoch = done // per_epoch
        probabilities = self.model.probabilities(self.waves)
        predicted = [self.labels[int(p.argmax())] for p in probabilities]
        self.best.record(epoch, unweighted_accuracy([r.label for r in self.rows], predicted))
        log.info("epoch %d: validation UA %.3f", epoch, self.best.history[epoch])
