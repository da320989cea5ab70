"""wav2vec 2.0-family backbones: which one a config names, and its configuration.

A backbone is either a named preset (a small random-init configuration for the demo and tests)
or a checkpoint loaded with `from_pretrained`: a hub id with a pinned revision, or a local
directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import AutoConfig, HubertConfig, PretrainedConfig, Wav2Vec2Config, WavLMConfig

from ptapt.errors import PtaptError
from ptapt.models.frames import ConvLayout

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
    except OSError as err:
        raise PtaptError(
            f"backbone {spec.source!r}: cannot load its config ({err}); give a local directory, "
            "or download the model first when running offline"
        ) from None


def conv_layout(config: PretrainedConfig) -> ConvLayout:
    """The feature encoder's (kernel, stride) per layer: it fixes the frame count of any input."""
    return list(zip(config.conv_kernel, config.conv_stride, strict=True))
