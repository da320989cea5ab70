"""Domain shift, the paper's Table 3: the wav2vec 2.0 pretraining loss of a backbone on audio.

The loss is TAPT's objective (contrastive + diversity weight x diversity, per masked frame) in
eval mode, averaged over utterances, each cropped to its first `max_crop_seconds`. Before each
model meets an audio set, numpy is seeded with `seed`: every model evaluated on the same audio
sees the same masks and the same negatives, so its numbers compare.

Rows: the initial backbone on the reference read speech (LibriSpeech test-clean in the paper),
on all of the dataset's audio and on each fold's test audio; each fold's TAPT and P-TAPT backbone
on that same test audio. A backbone saved without a quantizer (P-TAPT never trains one) is
scored with the initial backbone's quantizer and projections: the column `quantizer` says whose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from transformers import Wav2Vec2ForPreTraining

from ptapt.atomic import write_csv
from ptapt.config import TaptConfig
from ptapt.data.audio import SAMPLE_RATE, load_rows
from ptapt.data.batching import collate
from ptapt.data.folds import read_fold
from ptapt.data.manifest import read_manifest, select
from ptapt.models.backbone import BackboneSpec, conv_layout, load_backbone, load_for_pretraining
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.masking import uses_attention_mask
from ptapt.progress import progress
from ptapt.stages.stage3 import SPEC_OVERRIDES, directory_audio
from ptapt.training.fit import prepare

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoldModel:
    fold_file: str
    method: str  # tapt or ptapt
    directory: str


def run(
    dataset: str,
    manifest: str,
    initial: BackboneSpec,
    reference: str,
    fold_files: list[str],
    fold_models: list[FoldModel],
    cfg: TaptConfig,
    out: str,
) -> list[dict]:
    device = prepare(cfg.device, cfg.seed)
    cfg = replace(cfg, loss_reduction="mean")
    rows = read_manifest(manifest)
    start = load_for_pretraining(initial, **SPEC_OVERRIDES).to(device)
    scored = []

    def score(network, audio_name, waves, **where):
        figures = pretraining_loss(network, waves, cfg, device)
        scored.append({"dataset": dataset, **where, "audio": audio_name, **figures})
        log.info("%s on %s: loss %.3f", where["model"], audio_name, figures["loss"])

    initial_row = {"model": "initial", "fold": "", "quantizer": "own"}
    score(start, "reference", directory_audio(reference).waves, **initial_row)
    waves = load_rows(rows, "loading the dataset's audio")
    audio = dict(zip([r.utt_id for r in rows], waves, strict=True))
    score(start, "all", list(audio.values()), **initial_row)
    for fold_file in fold_files:
        fold = read_fold(fold_file)
        test = [audio[r.utt_id] for r in select(rows, fold.test, fold_file)]  # loaded once
        score(start, "test", test, model="initial", fold=fold.fold, quantizer="own")
        for entry in (m for m in fold_models if m.fold_file == fold_file):
            model, whose = continued(entry.directory, start)
            where = {"model": entry.method, "fold": fold.fold, "quantizer": whose}
            score(model.to(device), "test", test, **where)
    write_csv(out, scored)
    return scored


def continued(directory: str, initial: Wav2Vec2ForPreTraining):
    """A stage-3 backbone with a quantizer: its own when it saved one (TAPT), else a copy of
    the initial model's with this backbone in place (P-TAPT)."""
    spec = BackboneSpec(source=directory)
    if has_quantizer(Path(directory)):
        return load_for_pretraining(spec, **SPEC_OVERRIDES), "own"
    model = Wav2Vec2ForPreTraining(initial.config)
    model.load_state_dict(initial.state_dict())
    model.wav2vec2.load_state_dict(load_backbone(spec, **SPEC_OVERRIDES).state_dict())
    return model, "initial"


def has_quantizer(directory: Path) -> bool:
    with safe_open(directory / "model.safetensors", framework="pt") as weights:
        return any(key.startswith("quantizer.") for key in weights.keys())  # noqa: SIM118


@torch.no_grad()
def pretraining_loss(model, waves: list[np.ndarray], cfg: TaptConfig, device) -> dict:
    """Mean over utterances of the loss, contrastive loss and accuracy per masked frame."""
    objective = ContrastiveObjective(model, cfg).eval()
    layout = conv_layout(model.config)
    use_attention = cfg.mask_padding or uses_attention_mask(model.config)
    crop = int(cfg.max_crop_seconds * SAMPLE_RATE)
    np.random.seed(cfg.seed)  # the same masks and negatives for every model on this audio
    per_utterance = []
    for wave in progress(waves, desc="pretraining loss", unit="utt"):
        batch = collate([wave[:crop]], layout, use_attention, device)
        loss, stats = objective(batch, step=0)
        per_utterance.append((loss.item(), stats["contrastive"], stats["accuracy"]))
    loss, contrastive, accuracy = np.mean(per_utterance, axis=0)
    return {
        "utterances": len(waves),
        "loss": float(loss),
        "contrastive": float(contrastive),
        "accuracy": float(accuracy),
    }
