"""P-TAPT's objective: predict the k-means pseudo-labels of masked frames, one head per K.

The convolutional feature encoder and the feature projection stay frozen; masked frames are
replaced by the model's (fixed) `masked_spec_embed`; each head is
Linear(H, 256) - Tanh - Linear(256, K) on the ReLU of the last hidden state of masked frames;
the loss is the plain sum of the heads' cross-entropies (as in the reference).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from ptapt.config import PtaptConfig
from ptapt.data.batching import AudioBatch
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.models.backbone import conv_layout
from ptapt.models.frames import total_stride
from ptapt.models.heads import linear_head
from ptapt.models.masking import time_mask
from ptapt.training.checkpoint import digest


class MaskedClusterObjective(nn.Module):
    def __init__(self, backbone: PreTrainedModel, labels: PseudoLabels, cfg: PtaptConfig):
        super().__init__()
        self.backbone, self.labels, self.cfg = backbone, labels, cfg
        self.stride = total_stride(conv_layout(backbone.config))
        dim = backbone.config.hidden_size
        self.heads = nn.ModuleList([linear_head(dim, cfg.head_hidden, k) for k in labels.ks])
        backbone.feature_extractor._freeze_parameters()  # also skips its backward pass
        backbone.feature_projection.requires_grad_(False)
        backbone.masked_spec_embed.requires_grad_(False)  # used, not updated (as the reference)

    def chance(self) -> dict[str, float]:
        """Accuracy of always predicting each K's most frequent cluster, and the loss of
        predicting each K's cluster frequencies (the sum of their entropies)."""
        chance, entropy = {}, 0.0
        for k, ids in zip(self.labels.ks, self.labels.labels, strict=True):
            share = np.bincount(ids) / len(ids)
            chance[f"acc_k{k}"] = float(share.max())
            entropy -= float(np.sum(share[share > 0] * np.log(share[share > 0])))
        return {**chance, "loss": entropy}

    def targets_digest(self) -> str:
        """The pseudo-labels define the run as much as the audio does."""
        return digest(self.labels.labels)

    def saved_model(self, keep_pretraining_head: bool = False) -> PreTrainedModel:
        return self.backbone

    def forward(self, batch: AudioBatch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, device = self.cfg, batch.wav.device
        mask = time_mask(batch.valid, cfg.mask_prob, cfg.mask_length, cfg.min_masks)
        frames = batch.valid.sum(axis=1)
        targets = self.labels.targets(batch.ids, batch.starts, frames, self.stride)
        mask_t = torch.from_numpy(mask).to(device)
        hidden = self.backbone(batch.wav, attention_mask=batch.attention, mask_time_indices=mask_t)
        masked = F.relu(hidden.last_hidden_state[mask_t])
        total, logs = 0.0, {}
        for k, head, target in zip(self.labels.ks, self.heads, targets, strict=True):
            logits = head(masked).float()
            wanted = torch.from_numpy(target).to(device)[mask_t]
            loss = F.cross_entropy(logits, wanted)
            total = total + loss
            logs[f"loss_k{k}"] = loss.item()
            logs[f"acc_k{k}"] = (logits.argmax(-1) == wanted).float().mean().item()
        return total, logs
