"""wav2vec 2.0-family backbones: which one a config names, and its configuration.

A backbone is either a named preset (a small random-init configuration for the demo and tests)
or a checkpoint loaded with `from_pretrained`: a hub id with a pinned revision, or a local
directory.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from torch import nn
from transformers import (
    AutoConfig,
    HubertConfig,
    HubertModel,
    PretrainedConfig,
    PreTrainedModel,
    Wav2Vec2Config,
    Wav2Vec2ForPreTraining,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)
from transformers.utils import logging as hf_logging

from ptapt.atomic import writing
from ptapt.errors import PtaptError
from ptapt.models.frames import ConvLayout
from ptapt.models.strict import check_keys

hf_logging.set_verbosity_error()  # our own strict check reports what matters about loading

BACKBONES = {"wav2vec2": Wav2Vec2Model, "hubert": HubertModel, "wavlm": WavLMModel}
# Weights of task heads a checkpoint may carry beyond the backbone; loading the backbone alone
# leaves them out on purpose. Anything else unexpected, and anything missing, is an error.
HEAD_PREFIXES = (
    "quantizer.",
    "project_q.",
    "project_hid.",
    "lm_head.",
    "classifier.",
    "projector.",
)

_TINY = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    conv_dim=(32,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=4,
)
PRESETS: dict[str, PretrainedConfig] = {
    "tiny-wav2vec2": Wav2Vec2Config(
        **_TINY,
        num_codevector_groups=2,
        num_codevectors_per_group=32,
        codevector_dim=32,
        proj_codevector_dim=32,
    ),
    # The demo backbone's architecture (backbones/demo-wav2vec2, `make demo-backbone`): a
    # wav2vec 2.0 base in miniature, with the base's 2 x 320 codebook and 5 % LayerDrop.
    "small-wav2vec2": Wav2Vec2Config(
        hidden_size=192,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=768,
        conv_dim=(128,) * 7,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=8,
        layerdrop=0.05,
        num_codevector_groups=2,
        num_codevectors_per_group=320,
        codevector_dim=128,
        proj_codevector_dim=128,
    ),
    "tiny-hubert": HubertConfig(**_TINY),
    "tiny-wavlm": WavLMConfig(**_TINY, num_buckets=32, max_bucket_distance=100),
}


@dataclass(frozen=True)
class BackboneSpec:
    preset: str | None = None  # a key of PRESETS: random init
    source: str | None = None  # hub id or local directory
    revision: str | None = None  # hub revision (commit hash) to pin

    @classmethod
    def from_dict(cls, d: dict) -> BackboneSpec:
        spec = cls(d.get("preset"), d.get("source"), d.get("revision"))
        if (spec.preset is None) == (spec.source is None):
            raise PtaptError(f"backbone: give exactly one of 'preset' or 'source', got {d}")
        if spec.preset is not None and spec.preset not in PRESETS:
            raise PtaptError(
                f"backbone: unknown preset {spec.preset!r}; choose from {sorted(PRESETS)}"
            )
        return spec


def backbone_config(spec: BackboneSpec) -> PretrainedConfig:
    if spec.preset is not None:
        return PRESETS[spec.preset]
    try:
        return AutoConfig.from_pretrained(spec.source, revision=spec.revision)
    except ValueError as err:  # a directory without a usable config.json
        raise PtaptError(f"backbone {spec.source!r}: not a model directory ({err})") from None
    except OSError as err:
        raise PtaptError(
            f"backbone {spec.source!r}: cannot load its config ({err}); give a local directory, "
            "or download the model first when running offline"
        ) from None


def conv_layout(config: PretrainedConfig) -> ConvLayout:
    """The feature encoder's (kernel, stride) per layer: it fixes the frame count of any input."""
    return list(zip(config.conv_kernel, config.conv_stride, strict=True))


def load_backbone(spec: BackboneSpec, **overrides) -> PreTrainedModel:
    """The backbone alone (Wav2Vec2Model, HubertModel or WavLMModel); `overrides` set config
    values such as the SpecAugment probabilities."""
    config = backbone_config(spec)
    if config.model_type not in BACKBONES:
        raise PtaptError(
            f"backbone {spec}: model type {config.model_type!r} is not supported; "
            f"choose from {sorted(BACKBONES)}"
        )
    return _without_waveform_gradient(_load(BACKBONES[config.model_type], spec, overrides))


def load_for_pretraining(spec: BackboneSpec, **overrides) -> Wav2Vec2ForPreTraining:
    """wav2vec 2.0 with its quantizer and projections, for the contrastive (TAPT) objective."""
    config = backbone_config(spec)
    if config.model_type != "wav2vec2":
        raise PtaptError(
            f"backbone {spec}: the contrastive objective needs a wav2vec 2.0 model "
            f"with a quantizer; {config.model_type!r} has none"
        )
    return _without_waveform_gradient(_load(Wav2Vec2ForPreTraining, spec, overrides))


def _load(cls, spec: BackboneSpec, overrides: dict) -> PreTrainedModel:
    if spec.preset is not None:  # random init, seeded by the caller
        config = copy.deepcopy(PRESETS[spec.preset])
        for key, value in overrides.items():
            setattr(config, key, value)
        return cls(config)
    try:
        model, info = cls.from_pretrained(
            spec.source,
            revision=spec.revision,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # reported below by check_keys, naming the weights
            **overrides,
        )
    except SafetensorError as err:
        raise PtaptError(
            f"backbone {spec.source!r}: weights file damaged or truncated ({err})"
        ) from None
    except OSError as err:
        raise PtaptError(
            f"backbone {spec.source!r}: cannot load ({err}); give a local directory, or download "
            "the model first when running offline"
        ) from None
    missing = info["missing_keys"]
    unexpected = [
        k
        for k in info["unexpected_keys"]
        if not k.startswith(HEAD_PREFIXES) and not _unused_mask_embedding(k, model)
    ]
    if cls is Wav2Vec2ForPreTraining and any(k.startswith("quantizer.") for k in missing):
        raise PtaptError(
            f"backbone {spec.source!r} has no quantizer: the contrastive "
            "objective (TAPT) cannot continue from it"
        )
    check_keys(
        f"backbone {spec.source!r}",
        cls.__name__,
        missing,
        unexpected,
        _names(info["mismatched_keys"]),
    )
    return model


def _without_waveform_gradient(model: PreTrainedModel) -> PreTrainedModel:
    """transformers makes the waveform require a gradient whenever its feature encoder is
    trainable (for gradient checkpointing, which no stage uses). Nothing reads that gradient,
    and computing it made the first convolution's backward pass the costliest op of a small
    model's step on a CPU; it also sent LoRA's backward pass through the frozen CNN. Detaching
    the first convolution's input skips it and changes no parameter's gradient."""
    first_conv = model.base_model.feature_extractor.conv_layers[0]
    first_conv.register_forward_pre_hook(_detach_input)
    return model


def _detach_input(module: nn.Module, args: tuple) -> tuple:
    return (args[0].detach(), *args[1:])


def _unused_mask_embedding(key: str, model: PreTrainedModel) -> bool:
    """transformers builds no mask embedding when both SpecAugment probabilities are 0; a
    checkpoint's embedding then has nothing to load into and nothing would use it."""
    return key.endswith("masked_spec_embed") and not any(
        name.endswith("masked_spec_embed") for name, _ in model.named_parameters()
    )


def save_backbone(model: PreTrainedModel, directory: str | Path) -> None:
    """save_pretrained into a temporary directory, then move each finished file into place."""
    out = Path(directory)
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".save.") as tmp:
            model.save_pretrained(tmp)
            for file in Path(tmp).iterdir():
                shutil.move(str(file), out / file.name)


def _names(mismatched) -> list[str]:
    """transformers reports a mis-shaped weight as (name, shape in file, shape in model)."""
    return [m[0] if isinstance(m, tuple) else m for m in mismatched]
