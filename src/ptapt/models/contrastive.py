"""TAPT's objective: the wav2vec 2.0 contrastive loss on transformers' Wav2Vec2ForPreTraining.

Current transformers computes the loss only when the caller samples the negatives; here they are
drawn from each utterance's valid frames only (the reference, on transformers 4.10, also drew
them from padding). Loss = contrastive + diversity weight x diversity, summed over masked frames
(the reference's reduction) or averaged per masked frame. Current transformers scales the
diversity term by the masked-frame count, as fairseq does; transformers 4.10, which the
reference ran, did not, so its diversity term was negligible: `diversity_scaling` picks one
(default: the reference's).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, Wav2Vec2ForPreTraining
from transformers.models.wav2vec2.modeling_wav2vec2 import _sample_negative_indices

from ptapt.config import TaptConfig
from ptapt.data.batching import AudioBatch
from ptapt.models.masking import time_mask


def gumbel_temperature(step: int, maximum: float, minimum: float, decay: float) -> float:
    return max(maximum * decay**step, minimum)


class ContrastiveObjective(nn.Module):
    def __init__(self, model: Wav2Vec2ForPreTraining, cfg: TaptConfig):
        super().__init__()
        self.model, self.cfg = model, cfg
        if not cfg.train_feature_encoder:
            model.freeze_feature_encoder()

    @property
    def backbone(self) -> PreTrainedModel:
        return self.model.wav2vec2

    def chance(self) -> dict[str, float]:
        """Accuracy, and contrastive loss per masked frame, of a uniform guess among the true
        target and its distractors."""
        candidates = self.cfg.num_negatives + 1
        return {"accuracy": 1.0 / candidates, "contrastive": float(np.log(candidates))}

    def targets_digest(self) -> None:
        """Its targets come from the audio itself: nothing beyond it defines the run."""
        return None

    def saved_model(self, keep_pretraining_head: bool) -> PreTrainedModel:
        """The backbone alone, or with its quantizer and projections (to continue TAPT)."""
        return self.model if keep_pretraining_head else self.model.wav2vec2

    def forward(self, batch: AudioBatch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(*self.outputs(batch, step))

    def outputs(self, batch: AudioBatch, step: int, hidden_states: bool = False):
        """The pretraining model's outputs on `batch`, its time mask, distractors, temperature."""
        cfg = self.cfg
        temperature = gumbel_temperature(step, cfg.gumbel_max, cfg.gumbel_min, cfg.gumbel_decay)
        self.model.set_gumbel_temperature(temperature)
        mask = time_mask(batch.valid, cfg.mask_prob, cfg.mask_length, cfg.min_masks)
        negatives = _sample_negative_indices(
            batch.valid.shape, cfg.num_negatives, mask_time_indices=batch.valid
        )
        device = batch.wav.device
        mask_t = torch.from_numpy(mask).to(device)
        negatives_t = torch.from_numpy(negatives).long().to(device)
        out = self.model(
            batch.wav,
            attention_mask=batch.attention,
            mask_time_indices=mask_t,
            sampled_negative_indices=negatives_t,
            output_hidden_states=hidden_states,
        )
        return out, mask_t, negatives_t, temperature, batch.valid

    def loss(self, out, mask_t, negatives_t, temperature, valid) -> tuple[torch.Tensor, dict]:
        cfg = self.cfg
        n_masked = int(mask_t.sum())
        diversity = out.diversity_loss  # transformers: already x masked frames
        if cfg.diversity_scaling == "none":
            diversity = diversity / n_masked
        loss = out.contrastive_loss + cfg.diversity_weight * diversity
        if cfg.loss_reduction == "mean":
            loss = loss / n_masked
        return loss, {
            "contrastive": out.contrastive_loss.item() / n_masked,
            "diversity": out.diversity_loss.item() / n_masked,
            "accuracy": contrastive_accuracy(out, negatives_t, mask_t),
            "perplexity": out.codevector_perplexity.item(),
            "masked_share": n_masked / int(valid.sum()),
            "temperature": temperature,
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
