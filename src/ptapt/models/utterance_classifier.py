"""Stage 4's utterance classifier: backbone -> pooling over valid frames -> ReLU -> Linear.

Pooling `mean-of-relu` is the reference code's Linear(ReLU(mean_t ReLU(h_t))), on the same
ReLU'd frames P-TAPT's heads see; `relu-of-mean` is the paper's sentence, Linear(ReLU(mean_t h_t)).

Fine-tuning modes:
- partial: the convolutional encoder, feature projection and mask embedding stay fixed, the
  transformer trains (the paper's code);
- entire: everything trains;
- frozen: the backbone is fixed (and run in eval mode); optionally a learned softmax-weighted sum
  of all hidden layers (SUPERB style) feeds the pooling;
- lora: LoRA adapters (peft) on the attention q, k and v projections train, the backbone is
  fixed; adapters are merged into the backbone when saved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn
from transformers import PreTrainedModel

from ptapt.atomic import atomic_path, write_json
from ptapt.data.batching import collate
from ptapt.errors import PtaptError
from ptapt.models.backbone import BackboneSpec, conv_layout, load_backbone, save_backbone
from ptapt.models.masking import uses_attention_mask
from ptapt.models.strict import check_keys, read_weights

MODES = ("partial", "entire", "frozen", "lora")
POOLINGS = ("mean-of-relu", "relu-of-mean")


@dataclass(frozen=True)
class ClassifierConfig:
    labels: list[str]
    mode: str = "partial"
    layer_weights: bool = False  # frozen mode: learned weighted sum of hidden layers
    lora_rank: int = 8
    lora_alpha: int = 16
    pooling: str = "mean-of-relu"  # saved models from before the choice existed: see load
    standardize: bool = False  # the head reads pooled features standardized (see standardize)


class UtteranceClassifier(nn.Module):
    def __init__(self, backbone: PreTrainedModel, cfg: ClassifierConfig):
        super().__init__()
        if cfg.mode not in MODES:
            raise PtaptError(f"unknown fine-tuning mode {cfg.mode!r}; choose from {MODES}")
        if cfg.pooling not in POOLINGS:
            raise PtaptError(f"unknown pooling {cfg.pooling!r}; choose from {POOLINGS}")
        if cfg.layer_weights and cfg.mode != "frozen":
            raise PtaptError("layer_weights applies to the frozen mode only")
        self.config = cfg
        self.backbone = backbone
        n_layers = backbone.config.num_hidden_layers + 1
        self.layer_weights = nn.Parameter(torch.zeros(n_layers)) if cfg.layer_weights else None
        dim = backbone.config.hidden_size
        self.head = nn.Linear(dim, len(cfg.labels))
        if cfg.standardize:  # identity until `standardize` sets them; saved with the head
            self.register_buffer("feature_mean", torch.zeros(dim))
            self.register_buffer("feature_std", torch.ones(dim))
        self._apply_mode()

    def _apply_mode(self) -> None:
        mode, backbone = self.config.mode, self.backbone
        if mode == "partial":
            backbone.feature_extractor._freeze_parameters()
            backbone.feature_projection.requires_grad_(False)
            if getattr(backbone, "masked_spec_embed", None) is not None:  # absent: no SpecAugment
                backbone.masked_spec_embed.requires_grad_(False)
        elif mode in ("frozen", "lora"):
            backbone.requires_grad_(False)
        if mode == "lora":
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=self.config.lora_rank,
                lora_alpha=self.config.lora_alpha,
                target_modules=["q_proj", "k_proj", "v_proj"],
            )
            self.backbone = get_peft_model(backbone, lora)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.mode == "frozen":
            self.backbone.eval()  # a fixed backbone: no dropout, no SpecAugment
        return self

    def forward(self, batch, time_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, classes) of an `AudioBatch`; pooling covers its valid frames only.
        `time_mask` (B, T), in training: the frames SpecAugment masks."""
        return self.classify(self.features(batch, time_mask), batch.valid_mask)

    def features(self, batch, time_mask: torch.Tensor | None = None) -> torch.Tensor:
        """What the head reads: the hidden states of every layer (L, B, T, D) when it weights
        them, else the last (1, B, T, D)."""
        weighted = self.layer_weights is not None
        out = self.backbone(
            batch.wav,
            attention_mask=batch.attention,
            mask_time_indices=time_mask if self.training else None,
            output_hidden_states=weighted,
        )
        if weighted:
            return torch.stack(out.hidden_states, dim=0)
        return out.last_hidden_state[None]

    def classify(self, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Logits from `features` (L, B, T, D) and the valid-frame mask (B, T)."""
        pooled = self.pool(features, valid)
        if self.config.standardize:
            pooled = (pooled - self.feature_mean) / self.feature_std
        return self.head(pooled)

    def standardize(self, pooled: torch.Tensor) -> None:
        """Set the head's input standardization from pooled features (N, D) of the training
        utterances; a constant dimension is left unscaled."""
        std = pooled.float().std(dim=0)
        self.feature_mean.copy_(pooled.float().mean(dim=0))
        self.feature_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def pool(self, features: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, D): the weighted layers (or the last), pooled over valid frames, then ReLU."""
        if self.layer_weights is not None:
            weights = F.softmax(self.layer_weights, dim=0).view(-1, 1, 1, 1)
            hidden = (weights * features).sum(dim=0)
        else:
            hidden = features[0]
        if self.config.pooling == "mean-of-relu":
            hidden = F.relu(hidden)
        mask = valid.to(hidden.dtype).unsqueeze(-1)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return F.relu(pooled)

    @torch.no_grad()
    def probabilities(self, waves: list[np.ndarray], batch_size: int = 1) -> np.ndarray:
        """Class probabilities (N, C) in the order given, longest first in batches. A
        group-norm encoder (wav2vec2-base) takes no attention mask, so padding would change
        its outputs: it scores one utterance at a time, and a prediction never depends on its
        batch. The model's training mode is restored."""
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        config = self.backbone.config
        layout = conv_layout(config)
        batch_size = batch_size if uses_attention_mask(config) else 1
        order = sorted(range(len(waves)), key=lambda i: -len(waves[i]))
        out = np.zeros((len(waves), len(self.config.labels)), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            mask = len(chosen) > 1  # one utterance has no padding to mask
            batch = collate([waves[i] for i in chosen], layout, mask, device)
            out[chosen] = F.softmax(self(batch).float(), dim=-1).cpu().numpy()
        self.train(was_training)
        return out

    def plain_backbone(self) -> PreTrainedModel:
        """The backbone with any LoRA adapters merged in."""
        if self.config.mode == "lora":
            return self.backbone.merge_and_unload()
        return self.backbone


def save_classifier(model: UtteranceClassifier, directory: Path, extra: dict) -> None:
    """The backbone (save_pretrained files, so AutoModel loads the directory too),
    head.safetensors and classifier.json (label order, mode, `extra`)."""
    save_backbone(model.plain_backbone(), directory)
    head = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    with atomic_path(directory / "head.safetensors") as tmp:
        save_file({k: v.detach().contiguous() for k, v in head.items()}, str(tmp))
    write_json(directory / "classifier.json", {**asdict(model.config), **extra})


def load_classifier(directory: str | Path) -> UtteranceClassifier:
    """A saved classifier, ready for inference (LoRA adapters are merged already)."""
    directory = Path(directory)
    meta_file = directory / "classifier.json"
    try:
        meta = json.loads(meta_file.read_text())
        cfg = ClassifierConfig(
            meta["labels"],
            mode="frozen",
            layer_weights=meta["layer_weights"],
            pooling=meta.get("pooling", "relu-of-mean"),  # the only pooling before the choice
            standardize=meta.get("standardize", False),
        )
    except FileNotFoundError:
        raise PtaptError(f"{directory}: no classifier.json; not a fine-tuned model") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise PtaptError(f"{meta_file}: damaged ({type(err).__name__}: {err})") from None
    model = UtteranceClassifier(load_backbone(BackboneSpec(source=str(directory))), cfg)
    head = read_weights(directory / "head.safetensors", "fine-tuned model")
    expected = {k for k in model.state_dict() if not k.startswith("backbone.")}
    check_keys(
        f"{directory}/head.safetensors",
        "the classifier head",
        expected - set(head),
        set(head) - expected,
    )
    model.load_state_dict(head, strict=False)  # exactly the non-backbone keys, checked above
    return model.eval()
