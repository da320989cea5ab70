"""wav2vec 1.0 (Schneider et al., 2019) in plain torch, loadable from fairseq checkpoints.

The module tree mirrors fairseq's `Wav2VecModel` (`feature_extractor` = conv encoder,
`feature_aggregator` = conv context network) so a fairseq state dict loads with exact key
matching, without importing fairseq. The architecture is read from the checkpoint's `args`, never
assumed: wav2vec_large.pt has 7 encoder layers, while newer fairseq defaults have 8.
"""

from __future__ import annotations

import argparse
import ast
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ptapt.errors import PtaptError
from ptapt.models.strict import load_strict

Layer = tuple[int, int, int]  # (channels, kernel, stride)

# Keys of the pretraining head (future-step prediction), which feature extraction never uses.
PRETRAINING_HEAD = "wav2vec_predictions."


# What a fairseq 2019 checkpoint pickles besides tensors: its argparse arguments and, in
# `optimizer_history` and `extra_state`, numpy scalars (named numpy.core.* by numpy 1, which
# wrote them, and numpy._core.* by numpy 2). Loading stays weights_only with exactly these.
FAIRSEQ_GLOBALS = [
    argparse.Namespace,
    np.dtype,
    type(np.dtype(np.float64)),  # numpy 2 rebuilds a dtype as its own class
    type(np.dtype(np.float32)),
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    np._core.multiarray.scalar,
]


@dataclass(frozen=True)
class Wav2Vec1Config:
    conv_feature_layers: list[Layer]
    conv_aggregator_layers: list[Layer]
    skip_connections_feat: bool = False
    skip_connections_agg: bool = True
    residual_scale: float = 0.5
    log_compression: bool = True
    non_affine_group_norm: bool = False
    agg_zero_pad: bool = False
    conv_bias: bool = True
    activation: str = "relu"

    @property
    def encoder_layout(self) -> list[tuple[int, int]]:
        return [(k, s) for _, k, s in self.conv_feature_layers]

    @property
    def context_dim(self) -> int:
        return self.conv_aggregator_layers[-1][0]

    @classmethod
    def from_fairseq_args(cls, args: argparse.Namespace) -> Wav2Vec1Config:
        get = lambda name, default: getattr(args, name, default)  # noqa: E731  (old args lack fields)
        if get("aggregator", "cnn") != "cnn":
            raise ValueError(f"aggregator {args.aggregator!r} is not supported, only 'cnn'")
        if get("vq_type", "none") != "none":
            raise ValueError("vq-wav2vec checkpoints (vq_type != none) are not supported")
        return cls(
            conv_feature_layers=_layers(args.conv_feature_layers),
            conv_aggregator_layers=_layers(args.conv_aggregator_layers),
            skip_connections_feat=bool(get("skip_connections_feat", False)),
            skip_connections_agg=bool(get("skip_connections_agg", False)),
            residual_scale=float(get("residual_scale", 0.5)),
            log_compression=bool(get("log_compression", False)),
            non_affine_group_norm=bool(get("non_affine_group_norm", False)),
            agg_zero_pad=bool(get("agg_zero_pad", False)),
            conv_bias=not get("no_conv_bias", False),
            activation=get("activation", "relu"),
        )

    @classmethod
    def from_dict(cls, d: dict) -> Wav2Vec1Config:
        layers = {
            k: [tuple(x) for x in d[k]] for k in ("conv_feature_layers", "conv_aggregator_layers")
        }
        return cls(**{**d, **layers})

    def to_dict(self) -> dict:
        return asdict(self)


def _layers(spec) -> list[Layer]:
    layers = ast.literal_eval(spec) if isinstance(spec, str) else spec
    return [tuple(int(v) for v in layer) for layer in layers]


# wav2vec_large.pt (fairseq examples/wav2vec, 2019): 7 encoder layers, 12 context layers.
LARGE = Wav2Vec1Config(
    conv_feature_layers=[(512, 10, 5), (512, 8, 4), *[(512, 4, 2)] * 3, *[(512, 1, 1)] * 2],
    conv_aggregator_layers=[(512, k, 1) for k in range(2, 14)],
)
# Same strides and kernels (10 ms frames), few channels: random init for the demo and tests.
TINY = Wav2Vec1Config(
    conv_feature_layers=[(32, 10, 5), (32, 8, 4), *[(32, 4, 2)] * 3, *[(32, 1, 1)] * 2],
    conv_aggregator_layers=[(32, k, 1) for k in range(2, 6)],
)
PRESETS = {"tiny": TINY, "large": LARGE}


class Fp32GroupNorm(nn.GroupNorm):
    """Group norm computed in float32 whatever the autocast dtype, as fairseq does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).type_as(x)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}")


class ConvFeatureExtractor(nn.Module):
    """Raw audio (B, T) -> z (B, C, frames); frames of `stride` samples (160 = 10 ms)."""

    def __init__(self, cfg: Wav2Vec1Config):
        super().__init__()
        self.conv_layers = nn.ModuleList()
        in_dim = 1
        for dim, kernel, stride in cfg.conv_feature_layers:
            self.conv_layers.append(
                nn.Sequential(
                    nn.Conv1d(in_dim, dim, kernel, stride=stride, bias=False),
                    nn.Dropout(0.0),
                    Fp32GroupNorm(1, dim, affine=not cfg.non_affine_group_norm),
                    _activation(cfg.activation),
                )
            )
            in_dim = dim
        self.skip = cfg.skip_connections_feat
        self.log_compression = cfg.log_compression
        self.residual_scale = math.sqrt(cfg.residual_scale)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = wav.unsqueeze(1)
        for conv in self.conv_layers:
            residual = x
            x = conv(x)
            if self.skip and x.size(1) == residual.size(1):
                step = residual.size(2) // x.size(2)
                x = (x + residual[..., ::step][..., : x.size(2)]) * self.residual_scale
        if self.log_compression:
            x = (x.abs() + 1).log()
        return x


class ConvAggregator(nn.Module):
    """z (B, C, T) -> c (B, C', T): causal convolutions (left padding k-1) with scaled skips."""

    def __init__(self, cfg: Wav2Vec1Config, embed: int):
        super().__init__()
        layers, projections = [], []
        in_dim = embed
        for dim, kernel, stride in cfg.conv_aggregator_layers:
            pad = (kernel - 1, 0)
            projections.append(
                nn.Conv1d(in_dim, dim, 1, bias=False)
                if in_dim != dim and cfg.skip_connections_agg
                else None
            )
            layers.append(
                nn.Sequential(
                    nn.ConstantPad1d(pad, 0.0) if cfg.agg_zero_pad else nn.ReplicationPad1d(pad),
                    nn.Conv1d(in_dim, dim, kernel, stride=stride, bias=cfg.conv_bias),
                    nn.Dropout(0.0),
                    Fp32GroupNorm(1, dim, affine=not cfg.non_affine_group_norm),
                    _activation(cfg.activation),
                )
            )
            in_dim = dim
        self.conv_layers = nn.Sequential(*layers)
        self.residual_proj = nn.ModuleList(projections)
        self.skip = cfg.skip_connections_agg
        self.residual_scale = math.sqrt(cfg.residual_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for project, conv in zip(self.residual_proj, self.conv_layers, strict=True):
            residual = x
            x = conv(x)
            if self.skip:
                if project is not None:
                    residual = project(residual)
                x = (x + residual) * self.residual_scale
        return x


class Wav2Vec1(nn.Module):
    def __init__(self, cfg: Wav2Vec1Config):
        super().__init__()
        self.config = cfg
        self.feature_extractor = ConvFeatureExtractor(cfg)
        self.feature_aggregator = ConvAggregator(cfg, cfg.conv_feature_layers[-1][0])

    def extract(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, c) for raw 16 kHz audio (B, T), each (B, channels, frames)."""
        z = self.feature_extractor(wav)
        return z, self.feature_aggregator(z)

    @classmethod
    def from_fairseq(cls, path) -> Wav2Vec1:
        """Load a fairseq wav2vec checkpoint ({'args': Namespace, 'model': state_dict}) strictly."""
        try:
            with torch.serialization.safe_globals(FAIRSEQ_GLOBALS):
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise PtaptError(f"{path}: wav2vec 1.0 checkpoint not found") from None
        except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise PtaptError(
                f"{path}: cannot load as a fairseq checkpoint ({reason}); if it holds other "
                "objects, save its 'args' and 'model' entries alone with torch.save and use that"
            ) from None
        if not isinstance(ckpt, dict) or "args" not in ckpt or "model" not in ckpt:
            raise PtaptError(f"{path}: not a fairseq wav2vec checkpoint (no 'args' and 'model')")
        try:
            cfg = Wav2Vec1Config.from_fairseq_args(ckpt["args"])
        except (AttributeError, ValueError, SyntaxError) as err:
            raise PtaptError(f"{path}: unsupported wav2vec configuration ({err})") from None
        model = cls(cfg)
        state = {k: v for k, v in ckpt["model"].items() if not k.startswith(PRETRAINING_HEAD)}
        load_strict(model, state, path)
        return model


def build(spec: str) -> Wav2Vec1:
    """A preset name (random init) or the path of a fairseq checkpoint."""
    if spec in PRESETS:
        return Wav2Vec1(PRESETS[spec])
    return Wav2Vec1.from_fairseq(spec)
