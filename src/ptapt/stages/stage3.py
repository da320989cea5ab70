"""Stage 3: continued pretraining of a wav2vec 2.0-family backbone on task audio.

TAPT continues the wav2vec 2.0 contrastive objective; P-TAPT predicts stage 2's pseudo-labels
of masked frames. Both train on length-bucketed dynamic batches of random crops (starting at
multiples of the backbone's conv stride, so pseudo-labels line up exactly), resume from their
last checkpoint, and write to the output directory the backbone as a `save_pretrained` directory
(config.json, model.safetensors), metrics.json, train_ids.txt and curve.csv.

The demo backbone is pretrained from scratch here too (`from_scratch`): the contrastive
objective plus masked prediction of MFCC units, on a directory of audio.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from torch import nn

from ptapt.atomic import write_json
from ptapt.config import PretrainConfig, PtaptConfig, TaptConfig, UnitsConfig
from ptapt.corpora.base import audio_files
from ptapt.data.audio import AUDIO_SUFFIXES, SAMPLE_RATE, load_many, load_rows
from ptapt.data.batching import BucketBatches, collate, random_crops
from ptapt.data.folds import read_fold
from ptapt.data.manifest import read_manifest, select
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.errors import PtaptError
from ptapt.models.acoustic_units import write_units
from ptapt.models.backbone import (
    BackboneSpec,
    backbone_config,
    conv_layout,
    load_backbone,
    load_for_pretraining,
    save_backbone,
)
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.contrastive_units import ContrastiveWithUnits
from ptapt.models.frames import ConvLayout, num_frames, total_stride
from ptapt.models.masked_prediction import MaskedClusterObjective
from ptapt.models.masking import uses_attention_mask
from ptapt.training.checkpoint import digest
from ptapt.training.fit import finish, fit, prepare, run_fingerprint

log = logging.getLogger(__name__)

# Masks come from this stage only: no built-in channel masking, and given time masks applied.
SPEC_OVERRIDES = {"apply_spec_augment": True, "mask_feature_prob": 0.0}


@dataclass(frozen=True)
class Audio:
    ids: list[str]
    waves: list[np.ndarray]


def fold_audio(manifest: str, fold_file: str, unlabelled: bool = False) -> Audio:
    """The fold's training utterances, the only audio a training stage may see: for an
    objective without labels (TAPT), all of them even when a data-efficiency run keeps a share
    of them for the stages that use labels."""
    fold = read_fold(fold_file)
    ids = fold.unlabelled_train() if unlabelled else fold.train
    rows = select(read_manifest(manifest), ids, fold_file)
    return Audio([r.utt_id for r in rows], load_rows(rows))


def directory_audio(root: str) -> Audio:
    """Every audio file under `root` (macOS `._*` files aside), in path order."""
    paths = audio_files(Path(root), AUDIO_SUFFIXES)
    if not paths:
        raise PtaptError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
    ids = [str(p.relative_to(root).with_suffix("")) for p in paths]
    return Audio(ids, load_many([str(p) for p in paths]))


def contrastive(init: BackboneSpec, cfg: TaptConfig, audio: Audio, labels_path) -> nn.Module:
    return ContrastiveObjective(load_for_pretraining(init, **SPEC_OVERRIDES), cfg)


def masked_clusters(init: BackboneSpec, cfg: PtaptConfig, audio: Audio, labels_path) -> nn.Module:
    if not labels_path:
        raise PtaptError("P-TAPT needs stage 2's pseudo_labels.npz (--pseudo-labels)")
    backbone = load_backbone(init, **SPEC_OVERRIDES)
    labels = PseudoLabels(labels_path)
    labels.check(audio.ids, [len(w) for w in audio.waves], conv_layout(backbone.config))
    return MaskedClusterObjective(backbone, labels, cfg)


# method -> objective builder(initial backbone, config, audio, pseudo-labels path)
OBJECTIVES = {"tapt": contrastive, "ptapt": masked_clusters}


def run(
    method: str,
    audio: Audio,
    init: BackboneSpec,
    cfg: PretrainConfig,
    out_dir: str,
    work_dir: str,
    labels_path: str | None = None,
    keep_pretraining_head: bool = False,
) -> dict:
    """Continue pretraining `init` on `audio` with the objective of `method`;
    `keep_pretraining_head` (TAPT) also saves the quantizer and projections, for a backbone
    that TAPT will continue later."""
    device = prepare(cfg.device, cfg.seed)
    audio = usable(audio, conv_layout(backbone_config(init)))
    objective = OBJECTIVES[method](init, cfg, audio, labels_path).to(device)
    return train(objective, method, audio, cfg, out_dir, work_dir, device, keep_pretraining_head)


def from_scratch(
    audio: Audio,
    init: BackboneSpec,
    cfg: TaptConfig,
    units: UnitsConfig,
    out_dir: str,
    work_dir: str,
) -> dict:
    """Pretrain the random-init `init` on `audio`: the contrastive objective plus masked
    prediction of MFCC k-means units (`ptapt pretrain-backbone`); saves the pretraining head."""
    layout = conv_layout(backbone_config(init))
    audio = usable(audio, layout)
    units_path = Path(work_dir) / "acoustic_units.npz"
    report = write_units(audio.ids, audio.waves, layout, units.k, cfg.seed, units_path)
    log.info("acoustic units: %s", report)
    device = prepare(cfg.device, cfg.seed)
    labels = PseudoLabels(units_path)
    base = contrastive(init, cfg, audio, None)
    objective = ContrastiveWithUnits(base, labels, units).to(device)
    metrics = train(objective, "pretrain", audio, cfg, out_dir, work_dir, device, True)
    write_json(Path(out_dir) / "metrics.json", {**metrics, "units": {**asdict(units), **report}})
    return metrics


def train(
    objective: nn.Module,
    method: str,
    audio: Audio,
    cfg: PretrainConfig,
    out_dir: str,
    work_dir: str,
    device,
    keep_pretraining_head: bool,
) -> dict:
    """Fit `objective` (resumable), then write the backbone and the run's artifacts."""
    identity = [audio.ids, digest(audio.waves), objective.targets_digest()]
    key = run_fingerprint(objective, cfg, cfg.steps, cfg.seed, identity, method)
    curve = fit(
        objective,
        batch_steps(objective, audio, cfg, device),
        cfg,
        steps=cfg.steps,
        seed=cfg.seed,
        work_dir=work_dir,
        fingerprint=key,
        device=device,
        desc=method,
    )
    save_backbone(objective.saved_model(keep_pretraining_head), out_dir)
    metrics = summary(curve, audio, cfg, method)
    metrics["chance"] = objective.chance()
    finish(out_dir, work_dir, audio.ids, curve, metrics)
    return metrics


def batch_steps(objective: nn.Module, audio: Audio, cfg: PretrainConfig, device):
    """The training step: a bucketed batch of random crops through the objective."""
    config = objective.backbone.config
    layout = conv_layout(config)
    use_attention = cfg.mask_padding or uses_attention_mask(config)
    max_samples = int(cfg.max_crop_seconds * SAMPLE_RATE)
    lengths = np.array([min(len(w), max_samples) for w in audio.waves])
    budget = int(cfg.batch_seconds * SAMPLE_RATE)
    batches = BucketBatches(lengths, budget, cfg.bucket_ratio, cfg.seed, drop_last=True)

    def step_fn(step, micro, rng):
        idx = batches.batch(step * cfg.accumulation + micro)
        waves = [audio.waves[i] for i in idx]
        crops, starts = random_crops(waves, max_samples, total_stride(layout), rng)
        ids = [audio.ids[i] for i in idx]
        return objective(collate(crops, layout, use_attention, device, ids, starts), step)

    return step_fn


def usable(audio: Audio, layout: ConvLayout) -> Audio:
    """Drop clips too short for two backbone frames (logged and counted)."""
    keep = [i for i, w in enumerate(audio.waves) if num_frames(len(w), layout) >= 2]
    if len(keep) < len(audio.ids):
        log.warning("skipped %d clip(s) shorter than two frames", len(audio.ids) - len(keep))
    if not keep:
        raise PtaptError("no clip is long enough to train on")
    return Audio([audio.ids[i] for i in keep], [audio.waves[i] for i in keep])


def summary(curve: list[dict], audio: Audio, cfg: PretrainConfig, method: str) -> dict:
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
