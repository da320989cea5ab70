"""Stage 1's model: wav2vec 1.0 fine-tuned to recognise emotion on every 20 ms frame.

A stride-2 convolution (kernel 4) turns the context network's 10 ms frames into frames at the
backbone's 20 ms rate. The waveform is zero-padded symmetrically by the difference of the two
receptive fields, so aligned frame j is centred where the backbone's frame j is, and an input of
N samples yields exactly as many aligned frames as the backbone yields for N samples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from ptapt.atomic import atomic_path, write_json
from ptapt.errors import PtaptError
from ptapt.models.frames import ConvLayout, num_frames, receptive_field, total_stride
from ptapt.models.heads import linear_head
from ptapt.models.masking import zero_spans
from ptapt.models.strict import load_strict, read_weights
from ptapt.models.wav2vec1 import Wav2Vec1, Wav2Vec1Config

ALIGNER = (4, 2)  # (kernel, stride) of the convolution from 10 ms to 20 ms frames


@dataclass(frozen=True)
class FrameClassifierConfig:
    wav2vec1: Wav2Vec1Config
    target_layout: list[tuple[int, int]]  # the backbone's feature encoder (kernel, stride) list
    labels: list[str]
    head_hidden: int = 128
    freeze_encoder: bool = True
    spec_augment: dict | None = None  # zero masks on the encoder output z in training

    def to_dict(self) -> dict:
        return {**asdict(self), "wav2vec1": self.wav2vec1.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> FrameClassifierConfig:
        return cls(
            **{
                **d,
                "wav2vec1": Wav2Vec1Config.from_dict(d["wav2vec1"]),
                "target_layout": [tuple(x) for x in d["target_layout"]],
            }
        )


def alignment_padding(encoder: ConvLayout, target: ConvLayout) -> tuple[int, int]:
    """(left, right) zero padding that centres and counts aligned frames like `target`'s."""
    aligned = [*encoder, ALIGNER]
    if total_stride(aligned) != total_stride(target):
        raise ValueError(
            f"wav2vec 1.0 frames with the aligner have stride {total_stride(aligned)}, "
            f"the backbone's have {total_stride(target)}: they cannot be aligned"
        )
    extra = receptive_field(aligned) - receptive_field(target)
    if extra < 0:
        raise ValueError("the backbone sees more samples per frame than wav2vec 1.0 + aligner")
    return extra // 2, extra - extra // 2


class FrameClassifier(nn.Module):
    def __init__(self, cfg: FrameClassifierConfig, wav2vec1: Wav2Vec1 | None = None):
        super().__init__()
        self.config = cfg
        self.wav2vec1 = wav2vec1 if wav2vec1 is not None else Wav2Vec1(cfg.wav2vec1)
        dim = cfg.wav2vec1.context_dim
        self.aligner = nn.Sequential(nn.Conv1d(dim, dim, ALIGNER[0], stride=ALIGNER[1]), nn.ReLU())
        n_classes = len(cfg.labels)
        self.frame_head = linear_head(dim, cfg.head_hidden, n_classes)
        self.utterance_head = linear_head(dim, cfg.head_hidden, n_classes)
        self.padding = alignment_padding(cfg.wav2vec1.encoder_layout, cfg.target_layout)
        self.wav2vec1.feature_extractor.requires_grad_(not cfg.freeze_encoder)

    def num_frames(self, n_samples: int) -> int:
        """Aligned frames for an input of `n_samples`: the backbone's frame count."""
        return num_frames(n_samples, self.config.target_layout)

    def aligned_features(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) audio -> (B, frames, C) features at the backbone's frame rate."""
        x = F.pad(wav, self.padding)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            z = self.wav2vec1.feature_extractor(x)
        if self.training and self.config.spec_augment:
            z = zero_spans(z, self.config.spec_augment)
        features = self.aligner(self.wav2vec1.feature_aggregator(z)).transpose(1, 2)
        expected = self.num_frames(wav.shape[1])
        if features.shape[1] != expected:  # an invariant of alignment_padding
            raise RuntimeError(f"{features.shape[1]} aligned frames, expected {expected}")
        return features

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame logits (B, frames, classes) and utterance logits (B, classes)."""
        features = self.aligned_features(wav)
        return self.frame_head(features), self.utterance_head(features.mean(dim=1))


def save_frame_classifier(model: FrameClassifier, out_dir: str | Path, extra: dict) -> None:
    """model.safetensors (all weights) and config.json (model config, label order, `extra`)."""
    out = Path(out_dir)
    with atomic_path(out / "model.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    write_json(out / "config.json", {"model": model.config.to_dict(), **extra})


def load_frame_classifier(directory: str | Path) -> FrameClassifier:
    """Rebuild a saved frame model, loading its weights strictly."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "config.json").read_text())
    except FileNotFoundError:
        raise PtaptError(f"{directory}: no config.json; not a stage-1 output directory") from None
    model = FrameClassifier(FrameClassifierConfig.from_dict(meta["model"]))
    load_strict(model, read_weights(directory / "model.safetensors", "stage-1 model"), directory)
    return model
