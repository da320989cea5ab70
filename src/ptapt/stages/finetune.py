"""Stage 4: utterance-level fine-tuning and evaluation on one fold, for one method and seed.

Trains the utterance classifier on the fold's training utterances (their first 10 s, padded per
batch) with class-weighted cross-entropy and SpecAugment, then tests on the fold's test
utterances at full length, one at a time, so padding cannot change a prediction. Without
validation ids the last epoch is tested (the paper); with them, the epoch of best validation UA.
Writes metrics.json, predictions.tsv, model/ (loadable by `load_classifier`), train_ids.txt and
curve.csv.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ptapt.atomic import atomic_path, write_csv, write_json, write_lines, write_tsv
from ptapt.data.audio import SAMPLE_RATE, load_many
from ptapt.data.batching import epoch_batch
from ptapt.data.folds import read_fold
from ptapt.data.manifest import label_ids, read_manifest, select
from ptapt.metrics import classification_report, unweighted_accuracy
from ptapt.models.backbone import BackboneSpec, conv_layout, load_backbone
from ptapt.models.classifier import ClassifierConfig, UtteranceClassifier, save_classifier
from ptapt.models.masking import sample_mask, uses_attention_mask, valid_frames
from ptapt.training.checkpoint import ResumeCheckpoint, digest, fingerprint
from ptapt.training.loop import LoopSettings, pick_device, train
from ptapt.training.losses import class_weights
from ptapt.training.schedule import adam_with_schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    mode: str = "partial"  # partial, entire, frozen, lora
    layer_weights: bool = False
    lora_rank: int = 8
    lora_alpha: int = 16
    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-4
    max_train_seconds: float = 10.0  # training uses the first seconds of each utterance
    mask_time_prob: float = 0.08
    mask_time_length: int = 15
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.05
    mask_feature_length: int = 64
    mask_feature_min_masks: int = 1
    checkpoint_every: int = 200
    log_every: int = 10
    device: str = "auto"
    amp: str = "auto"

    def spec_augment(self) -> dict:
        """transformers config values that switch on SpecAugment (applied in training only)."""
        return {
            "apply_spec_augment": True,
            **{k: getattr(self, k) for k in asdict(self) if k.startswith("mask_")},
        }


def run(
    manifest: str, fold_file: str, init: BackboneSpec, method: str, seed: int,
    cfg: FinetuneConfig, labels: list[str], out_dir: str, work_dir: str,
) -> dict:  # fmt: skip
    rows = read_manifest(manifest)
    fold = read_fold(fold_file)
    train_rows = select(rows, fold.train, fold_file)
    valid_rows = select(rows, fold.valid, fold_file)
    test_rows = select(rows, fold.test, fold_file)
    device = pick_device(cfg.device)
    torch.manual_seed(seed)
    backbone = load_backbone(init, **cfg.spec_augment())
    model = UtteranceClassifier(
        backbone, ClassifierConfig(list(labels), cfg.mode, cfg.layer_weights, cfg.lora_rank,
                                   cfg.lora_alpha),
    ).to(device)  # fmt: skip
    layout = conv_layout(backbone.config)
    use_attention = uses_attention_mask(backbone.config)
    crop = int(cfg.max_train_seconds * SAMPLE_RATE)
    waves = [w[:crop] for w in load_many([r.path for r in train_rows], "loading training audio")]
    targets = np.array(label_ids(train_rows, labels))
    weight = class_weights(targets, len(labels)).to(device)
    per_epoch = max(1, len(waves) // cfg.batch_size)

    def step_fn(step, micro, rng):
        idx = epoch_batch(len(waves), cfg.batch_size, step, seed)
        wav, attention, valid = pad_batch([waves[i] for i in idx], layout, use_attention, device)
        logits = model(wav, attention, valid)
        target = torch.as_tensor(targets[idx], device=device)
        loss = F.cross_entropy(logits.float(), target, weight=weight)
        accuracy = (logits.argmax(-1) == target).float().mean().item()
        return loss, {"accuracy": accuracy}

    validation = Validation(model, valid_rows, labels, layout, device, Path(work_dir))
    steps = cfg.epochs * per_epoch
    # a constant learning rate, as the reference: no warmup, flat to the end
    optimizer, scheduler = adam_with_schedule(model, cfg.lr, steps, 0, steps)
    settings = LoopSettings(
        steps=steps, seed=seed, checkpoint_every=cfg.checkpoint_every, log_every=cfg.log_every,
        amp=cfg.amp,
    )  # fmt: skip
    key = fingerprint([asdict(cfg), method, seed, labels, [r.utt_id for r in train_rows],
                       fold.valid, digest(waves), digest(model.state_dict().values())])  # fmt: skip
    checkpoint = ResumeCheckpoint(work_dir, key)
    curve = train(
        model, optimizer, scheduler, step_fn, settings, checkpoint, device, f"finetune {method}",
        after_step=lambda done: validation.after_step(done, per_epoch),
    )  # fmt: skip
    selected = validation.restore_best()
    if selected is None:
        selected = cfg.epochs

    predictions = predict(model, test_rows, layout, device)
    truth = [r.label for r in test_rows]
    predicted = [labels[int(p.argmax())] for p in predictions]
    metrics = {
        **classification_report(truth, predicted, labels),
        "method": method,
        "fold": fold.fold,
        "seed": seed,
        "selected_epoch": selected,
        "valid_ua_per_epoch": validation.history or None,
        "n_train": len(train_rows),
        "n_valid": len(valid_rows),
        "mode": cfg.mode,
    }
    out = Path(out_dir)
    save_classifier(model, out / "model", {"method": method, "seed": seed, "finetune": asdict(cfg)})
    write_predictions(out / "predictions.tsv", test_rows, predicted, predictions, labels)
    write_lines(out / "train_ids.txt", [r.utt_id for r in train_rows])
    write_csv(out / "curve.csv", curve)
    write_json(out / "metrics.json", metrics)
    checkpoint.remove()
    validation.remove()
    log.info("finetune %s fold %d seed %d: UA %.3f WA %.3f F1 %.3f", method, fold.fold, seed,
             metrics["ua"], metrics["wa"], metrics["macro_f1"])  # fmt: skip
    return metrics


def pad_batch(waves, layout, use_attention: bool, device):
    """Zero-padded (B, L) audio, its attention mask (layer-norm encoders only) and the valid
    frames (B, T) that pooling averages over."""
    lengths = np.array([len(w) for w in waves])
    batch = np.zeros((len(waves), lengths.max()), dtype=np.float32)
    for row, w in enumerate(waves):
        batch[row, : len(w)] = w
    attention = sample_mask(lengths, batch.shape[1]).to(device) if use_attention else None
    valid = torch.from_numpy(valid_frames(lengths, layout)).to(device)
    return torch.from_numpy(batch).to(device), attention, valid


@torch.no_grad()
def predict(model: UtteranceClassifier, rows, layout, device) -> np.ndarray:
    """Class probabilities (N, C), one full utterance at a time."""
    was_training = model.training
    model.eval()
    probabilities = []
    for wave in load_many([r.path for r in rows], "loading evaluation audio"):
        wav, attention, valid = pad_batch([wave], layout, False, device)
        probabilities.append(F.softmax(model(wav, attention, valid).float(), dim=-1)[0].cpu())
    model.train(was_training)
    return torch.stack(probabilities).numpy() if probabilities else np.zeros((0, 0))


class Validation:
    """UA on the validation ids at every epoch end, keeping the best epoch's weights (on disk too,
    with the history, so a resumed run still has them)."""

    def __init__(self, model, rows, labels, layout, device, work_dir: Path):
        self.model, self.rows, self.labels = model, rows, labels
        self.layout, self.device = layout, device
        self.path = work_dir / "best.pt"
        saved = torch.load(self.path, weights_only=True) if self.path.exists() else {}
        self.history: dict[int, float] = saved.get("history", {})
        self.best_epoch: int | None = saved.get("best_epoch")
        self.best_state: dict | None = saved.get("state")

    def after_step(self, done: int, per_epoch: int) -> None:
        if not self.rows or done % per_epoch:
            return
        epoch = done // per_epoch
        probabilities = predict(self.model, self.rows, self.layout, self.device)
        predicted = [self.labels[int(p.argmax())] for p in probabilities]
        self.history[epoch] = unweighted_accuracy([r.label for r in self.rows], predicted)
        if self.best_epoch is None or self.history[epoch] > self.history[self.best_epoch]:
            self.best_epoch = epoch
            self.best_state = {
                k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()
            }
        with atomic_path(self.path) as tmp:
            torch.save({"history": self.history, "best_epoch": self.best_epoch,
                        "state": self.best_state}, tmp)  # fmt: skip
        log.info("epoch %d: validation UA %.3f", epoch, self.history[epoch])

    def restore_best(self) -> int | None:
        """Load the best epoch's weights; its number, or None without validation ids."""
        if not self.rows:
            return None
        self.model.load_state_dict(self.best_state)
        return self.best_epoch

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def write_predictions(path: Path, rows, predicted, probabilities, labels) -> None:
    header = ["utt_id", "label", "prediction", *(f"p_{lab}" for lab in labels)]
    cells = (
        [row.utt_id, row.label, pred, *(f"{p:.6f}" for p in probs)]
        for row, pred, probs in zip(rows, predicted, probabilities, strict=True)
    )
    write_tsv(path, header, cells)
