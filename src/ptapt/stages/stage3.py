"""Stage 3: continued pretraining of a wav2vec 2.0-family backbone on task audio.

TAPT continues the wav2vec 2.0 contrastive objective; P-TAPT predicts stage 2's pseudo-labels
of masked frames. Both train on length-bucketed dynamic batches of random crops (starting at
multiples of the backbone's conv stride, so pseudo-labels line up exactly), resume from their
last checkpoint, and write to the output directory the backbone as a `save_pretrained` directory
(config.json, model.safetensors), metrics.json, train_ids.txt and curve.csv.

The same TAPT code pretrains the demo backbone from scratch on a directory of audio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel

from ptapt.atomic import write_csv, write_json, write_lines
from ptapt.data.audio import SAMPLE_RATE, load_many
from ptapt.data.buckets import BucketBatches, crop_batch
from ptapt.data.folds import read_fold
from ptapt.data.manifest import read_manifest, select
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.errors import PtaptError
from ptapt.models.backbone import (
    BackboneSpec,
    conv_layout,
    load_backbone,
    load_for_pretraining,
    save_backbone,
)
from ptapt.models.contrastive import ContrastiveSettings, contrastive_loss, gumbel_temperature
from ptapt.models.frames import num_frames, total_stride
from ptapt.models.masking import sample_mask, time_mask, uses_attention_mask, valid_frames
from ptapt.models.pseudo_label import PseudoLabelPretrainer
from ptapt.training.checkpoint import ResumeCheckpoint, digest, fingerprint
from ptapt.training.loop import LoopSettings, pick_device, train
from ptapt.training.schedule import adam_with_schedule

log = logging.getLogger(__name__)

# Masks come from this stage only: no built-in channel masking, and given time masks applied.
SPEC_OVERRIDES = {"apply_spec_augment": True, "mask_feature_prob": 0.0}


@dataclass(frozen=True)
class PretrainConfig:
    steps: int = 20000
    lr: float = 1e-4
    warmup: float = 100  # share of steps (below 1) or step count
    flat: float = 0.05
    batch_seconds: float = 250.0  # padded audio seconds per batch
    max_crop_seconds: float = 10.0
    bucket_ratio: float = 1.1  # longest / shortest crop within a length bucket
    accumulation: int = 1
    clip_grad_norm: float | None = None
    max_bad_steps: int = 20
    checkpoint_every: int = 1000
    log_every: int = 50
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"


@dataclass(frozen=True)
class TaptConfig(PretrainConfig):
    mask_prob: float = 0.05
    mask_length: int = 10
    min_masks: int = 2
    num_negatives: int = 100
    diversity_weight: float = 0.1
    gumbel_max: float = 2.0
    gumbel_min: float = 0.5
    gumbel_decay: float = 0.999995
    train_feature_encoder: bool = True
    loss_reduction: str = "sum"


@dataclass(frozen=True)
class PtaptConfig(PretrainConfig):
    mask_prob: float = 0.06
    mask_length: int = 15
    min_masks: int = 2
    head_hidden: int = 256


@dataclass(frozen=True)
class Audio:
    ids: list[str]
    waves: list[np.ndarray]


def fold_audio(manifest: str, fold_file: str) -> Audio:
    """The fold's training utterances: the only audio a training stage may see."""
    rows = select(read_manifest(manifest), read_fold(fold_file).train, fold_file)
    return Audio([r.utt_id for r in rows], load_many([r.path for r in rows]))


def directory_audio(root: str) -> Audio:
    paths = sorted(p for p in Path(root).rglob("*.wav") if not p.name.startswith("._"))
    if not paths:
        raise PtaptError(f"{root}: no .wav files")
    ids = [str(p.relative_to(root).with_suffix("")) for p in paths]
    return Audio(ids, load_many([str(p) for p in paths]))


# loss_fn(step, utterance indices, batch, lengths, crop starts, attention mask, valid frames)
LossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]


def run_tapt(
    audio: Audio,
    init: BackboneSpec,
    cfg: TaptConfig,
    out_dir: str,
    work_dir: str,
    keep_pretraining_head: bool = False,
) -> dict:
    """Contrastive continued pretraining; `keep_pretraining_head` also saves the quantizer and
    projections (for a backbone that TAPT will continue later)."""
    if cfg.loss_reduction not in ("sum", "mean"):
        raise PtaptError(
            f"tapt: loss_reduction must be 'sum' or 'mean', not {cfg.loss_reduction!r}"
        )
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = load_for_pretraining(init, **SPEC_OVERRIDES)
    if not cfg.train_feature_encoder:
        model.freeze_feature_encoder()
    settings = ContrastiveSettings(
        cfg.mask_prob,
        cfg.mask_length,
        cfg.min_masks,
        cfg.num_negatives,
        cfg.diversity_weight,
        cfg.loss_reduction,
    )

    def loss_fn(step, idx, batch, lengths, starts, attention, valid):
        temperature = gumbel_temperature(step, cfg.gumbel_max, cfg.gumbel_min, cfg.gumbel_decay)
        model.set_gumbel_temperature(temperature)
        loss, logs = contrastive_loss(model, batch, attention, valid, settings)
        return loss, {**logs, "temperature": temperature}

    audio = _usable(audio, model.config)
    curve, checkpoint = _pretrain(
        model, model.config, audio, cfg, loss_fn, work_dir, device, "tapt"
    )
    metrics = _save(
        model if keep_pretraining_head else model.wav2vec2, audio, curve, cfg, out_dir, "tapt"
    )
    checkpoint.remove()
    return metrics


def run_ptapt(
    audio: Audio,
    init: BackboneSpec,
    labels_path: str,
    cfg: PtaptConfig,
    out_dir: str,
    work_dir: str,
) -> dict:
    """Masked prediction of stage 2's pseudo-labels, one head per K of the labels file."""
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    backbone = load_backbone(init, **SPEC_OVERRIDES)
    layout = conv_layout(backbone.config)
    stride = total_stride(layout)
    audio = _usable(audio, backbone.config)
    labels = PseudoLabels(labels_path)
    labels.check(audio.ids, [len(w) for w in audio.waves], layout)
    model = PseudoLabelPretrainer(backbone, labels.ks, cfg.head_hidden)

    def loss_fn(step, idx, batch, lengths, starts, attention, valid):
        mask = torch.from_numpy(time_mask(valid, cfg.mask_prob, cfg.mask_length, cfg.min_masks))
        frames = valid.sum(axis=1)
        targets = labels.targets([audio.ids[i] for i in idx], starts, frames, stride)
        device_targets = [torch.from_numpy(t).to(batch.device) for t in targets]
        return model(batch, attention, mask.to(batch.device), device_targets)

    curve, checkpoint = _pretrain(
        model,
        backbone.config,
        audio,
        cfg,
        loss_fn,
        work_dir,
        device,
        "ptapt",
        extra=digest(labels.labels),
    )
    metrics = _save(backbone, audio, curve, cfg, out_dir, "ptapt")
    checkpoint.remove()
    return metrics


def _usable(audio: Audio, config) -> Audio:
    """Drop clips too short for two backbone frames (logged and counted)."""
    layout = conv_layout(config)
    keep = [i for i, w in enumerate(audio.waves) if num_frames(len(w), layout) >= 2]
    if len(keep) < len(audio.ids):
        log.warning("skipped %d clip(s) shorter than two frames", len(audio.ids) - len(keep))
    if not keep:
        raise PtaptError("no clip is long enough to train on")
    return Audio([audio.ids[i] for i in keep], [audio.waves[i] for i in keep])


def _pretrain(
    model: torch.nn.Module,
    config,
    audio: Audio,
    cfg: PretrainConfig,
    loss_fn: LossFn,
    work_dir: str,
    device: torch.device,
    desc: str,
    extra=None,
) -> tuple[list[dict], ResumeCheckpoint]:
    layout = conv_layout(config)
    stride = total_stride(layout)
    max_samples = int(cfg.max_crop_seconds * SAMPLE_RATE)
    lengths = np.array([min(len(w), max_samples) for w in audio.waves])
    batches = BucketBatches(
        lengths, int(cfg.batch_seconds * SAMPLE_RATE), cfg.bucket_ratio, cfg.seed
    )
    use_attention = uses_attention_mask(config)
    model.to(device)

    def step_fn(step, micro, rng):
        idx = batches.batch(step * cfg.accumulation + micro)
        batch, lens, starts = crop_batch([audio.waves[i] for i in idx], max_samples, stride, rng)
        valid = valid_frames(lens, layout)
        attention = sample_mask(lens, batch.shape[1]).to(device) if use_attention else None
        wav = torch.from_numpy(batch).to(device)
        return loss_fn(step, idx, wav, lens, starts, attention, valid)

    optimizer, scheduler = adam_with_schedule(model, cfg.lr, cfg.steps, cfg.warmup, cfg.flat)
    settings = LoopSettings(
        steps=cfg.steps,
        seed=cfg.seed,
        accumulation=cfg.accumulation,
        checkpoint_every=cfg.checkpoint_every,
        log_every=cfg.log_every,
        max_bad_steps=cfg.max_bad_steps,
        clip_grad_norm=cfg.clip_grad_norm,
        amp=cfg.amp,
    )
    key = fingerprint(
        [
            desc,
            asdict(cfg),
            config.to_dict(),
            audio.ids,
            digest(audio.waves),
            digest(model.state_dict().values()),
            extra,
        ]
    )
    checkpoint = ResumeCheckpoint(work_dir, key)
    curve = train(model, optimizer, scheduler, step_fn, settings, checkpoint, device, desc)
    return curve, checkpoint


def _save(model: PreTrainedModel, audio: Audio, curve, cfg, out_dir: str, method: str) -> dict:
    out = Path(out_dir)
    save_backbone(model, out)
    write_lines(out / "train_ids.txt", audio.ids)
    write_csv(out / "curve.csv", curve)
    metrics = _metrics(curve, audio, cfg, method)
    write_json(out / "metrics.json", metrics)
    return metrics


def _metrics(curve: list[dict], audio: Audio, cfg, method: str) -> dict:
    last = curve[-1] if curve else {}
    return {
        "method": method,
        "steps": cfg.steps,
        "n_utterances": len(audio.ids),
        "hours_of_audio": sum(len(w) for w in audio.waves) / SAMPLE_RATE / 3600,
        "first_loss": curve[0]["loss"] if curve else None,
        "last_loss": last.get("loss"),
        "skipped_steps": last.get("skipped", 0),
        "final": {k: v for k, v in last.items() if "acc" in k or k == "perplexity"},
        "config": asdict(cfg),
    }
