"""Pretraining from scratch: wav2vec 2.0's contrastive loss plus masked prediction of acoustic
units (HuBERT's first-iteration targets), on the same masked frames.

The contrastive targets come from a quantizer that starts random: on the demo's read speech the
contrastive loss alone stayed at chance for 1,000 steps. Fixed MFCC units are learnable from the
start, and predicting them on unmasked frames too (HuBERT's alpha < 1) gives the untrained CNN a
direct signal; the contrastive term trains the quantizer and projections that TAPT continues.
Loss = contrastive objective + `weight` x units' cross-entropy on masked frames +
`unmasked_weight` x on unmasked ones, summed or averaged over frames as `loss_reduction` says.
The unit head (Linear - Tanh - Linear on the ReLU of the last layer) is not saved.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from ptapt.config import UnitsConfig
from ptapt.data.batching import AudioBatch
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.models.backbone import conv_layout
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.frames import total_stride
from ptapt.models.heads import linear_head
from ptapt.training.checkpoint import digest

HEAD_HIDDEN = 256


class ContrastiveWithUnits(nn.Module):
    def __init__(self, contrastive: ContrastiveObjective, units: PseudoLabels, cfg: UnitsConfig):
        super().__init__()
        if len(units.ks) != 1:
            raise ValueError("one set of units")
        self.contrastive, self.units = contrastive, units
        self.weight, self.unmasked_weight = cfg.weight, cfg.unmasked_weight
        config = contrastive.backbone.config
        self.stride = total_stride(conv_layout(config))
        self.head = linear_head(config.hidden_size, HEAD_HIDDEN, units.ks[0])

    @property
    def backbone(self) -> PreTrainedModel:
        return self.contrastive.backbone

    def chance(self) -> dict[str, float]:
        """The contrastive chance levels, and always guessing the most frequent unit."""
        share = np.bincount(self.units.labels[0]) / len(self.units.labels[0])
        return {**self.contrastive.chance(), "unit_accuracy": float(share.max())}

    def targets_digest(self) -> str:
        return digest([*self.units.labels, np.array([self.weight, self.unmasked_weight])])

    def saved_model(self, keep_pretraining_head: bool) -> PreTrainedModel:
        return self.contrastive.saved_model(keep_pretraining_head)

    def forward(self, batch: AudioBatch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = self.contrastive.outputs(batch, step, hidden_states=True)
        loss, logs = self.contrastive.loss(*outputs)
        out, masked = outputs[0], outputs[1]
        (target,) = self.units.targets(batch.ids, batch.starts, batch.valid.sum(1), self.stride)
        target = torch.from_numpy(target).to(masked.device)
        valid = torch.from_numpy(batch.valid).to(masked.device)
        hidden = F.relu(out.hidden_states[-1])
        for name, frames, weight in (
            ("unit", masked, self.weight),
            ("unit_unmasked", valid & ~masked, self.unmasked_weight),
        ):
            unit_loss, accuracy = self._cross_entropy(hidden[frames], target[frames])
            loss = loss + weight * unit_loss
            logs[f"{name}_accuracy"] = accuracy
        return loss, logs

    def _cross_entropy(self, hidden: torch.Tensor, wanted: torch.Tensor) -> tuple:
        """Summed or averaged over the frames as the contrastive term is (`loss_reduction`)."""
        if len(wanted) == 0:
            return hidden.sum() * 0.0, float("nan")
        logits = self.head(hidden).float()
        loss = F.cross_entropy(logits, wanted, reduction=self.contrastive.cfg.loss_reduction)
        return loss, (logits.argmax(-1) == wanted).float().mean().item()
