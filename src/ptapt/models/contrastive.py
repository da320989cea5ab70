"""The wav2vec 2.0 contrastive objective (TAPT) on transformers' Wav2Vec2ForPreTraining.

Current transformers computes the loss only when the caller samples the negatives; here they are
drawn from each utterance's valid frames only (the reference, on transformers 4.10, also drew
them from padding). Loss = contrastive + diversity weight x diversity, summed over masked frames
as in the reference, or averaged per masked frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Wav2Vec2ForPreTraining
from transformers.models.wav2vec2.modeling_wav2vec2 import _sample_negative_indices

from ptapt.models.masking import time_mask


@dataclass(frozen=True)
class ContrastiveSettings:
    mask_prob: float
    mask_length: int
    min_masks: int
    num_negatives: int
    diversity_weight: float
    loss_reduction: str  # "sum" or "mean"


def gumbel_temperature(step: int, maximum: float, minimum: float, decay: float) -> float:
    return max(maximum * decay**step, minimum)


def contrastive_loss(
    model: Wav2Vec2ForPreTraining,
    wav: torch.Tensor,
    attention_mask: torch.Tensor | None,
    valid: np.ndarray,
    settings: ContrastiveSettings,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch and its parts; `valid` (B, T) marks frames from real samples."""
    device = wav.device
    mask = time_mask(valid, settings.mask_prob, settings.mask_length, settings.min_masks)
    negatives = _sample_negative_indices(
        valid.shape, settings.num_negatives, mask_time_indices=valid
    )
    mask_t = torch.from_numpy(mask).to(device)
    negatives_t = torch.from_numpy(negatives).long().to(device)
    out = model(
        wav,
        attention_mask=attention_mask,
        mask_time_indices=mask_t,
        sampled_negative_indices=negatives_t,
    )
    n_masked = int(mask.sum())
    loss = out.contrastive_loss + settings.diversity_weight * out.diversity_loss
    if settings.loss_reduction == "mean":
        loss = loss / n_masked
    return loss, {
        "contrastive": out.contrastive_loss.item() / n_masked,
        "diversity": out.diversity_loss.item() / n_masked,
        "accuracy": contrastive_accuracy(out, negatives_t, mask_t),
        "perplexity": out.codevector_perplexity.item(),
        "masked_share": n_masked / int(valid.sum()),
    }


@torch.no_grad()
def contrastive_accuracy(out, negatives: torch.Tensor, mask: torch.Tensor) -> float:
    """Share of masked frames whose true quantized target is the most similar candidate."""
    quantized = out.projected_quantized_states
    positives = quantized[mask]  # (M, D)
    distractors = quantized.reshape(-1, quantized.shape[-1])[negatives[mask]]  # (M, K, D)
    candidates = torch.cat([positives[:, None], distractors], dim=1).float()
    context = out.projected_states[mask].float()[:, None]
    similarity = F.cosine_similarity(context, candidates, dim=-1)
    similarity[:, 1:][(distractors == positives[:, None]).all(-1)] = float("-inf")
    return (similarity.argmax(-1) == 0).float().mean().item()
