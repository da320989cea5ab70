"""P-TAPT: predict the k-means pseudo-labels of masked frames, one head per K.

The convolutional feature encoder and the feature projection stay frozen; masked frames are
replaced by the model's (fixed) `masked_spec_embed`; each head is
Linear(H, 256) - Tanh - Linear(256, K) on the ReLU of the last hidden state of masked frames;
the loss is the plain sum of the heads' cross-entropies (as in the reference).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from ptapt.models.heads import linear_head


class PseudoLabelPretrainer(nn.Module):
    def __init__(self, backbone: PreTrainedModel, ks: list[int], head_hidden: int = 256):
        super().__init__()
        self.backbone = backbone
        self.ks = list(ks)
        dim = backbone.config.hidden_size
        self.heads = nn.ModuleList([linear_head(dim, head_hidden, k) for k in self.ks])
        backbone.feature_extractor._freeze_parameters()  # also skips its backward pass
        backbone.feature_projection.requires_grad_(False)
        backbone.masked_spec_embed.requires_grad_(False)  # used, not updated (as the reference)

    def forward(
        self,
        wav: torch.Tensor,
        attention_mask: torch.Tensor | None,
        mask: torch.Tensor,
        targets: list[torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """`mask` (B, T) bool: frames to mask and predict; `targets` one (B, T) id tensor per K."""
        hidden = self.backbone(wav, attention_mask=attention_mask, mask_time_indices=mask)
        masked = F.relu(hidden.last_hidden_state[mask])
        total, logs = 0.0, {}
        for k, head, target in zip(self.ks, self.heads, targets, strict=True):
            logits = head(masked).float()
            wanted = target[mask]
            loss = F.cross_entropy(logits, wanted)
            total = total + loss
            logs[f"loss_k{k}"] = loss.item()
            logs[f"acc_k{k}"] = (logits.argmax(-1) == wanted).float().mean().item()
        return total, logs
