"""Stage configurations, filled from config.schema.yaml: the only place a default is written.

The workflow passes each stage its config section as JSON (already filled by Snakemake); a
command run by hand may pass part of a section or none. Either way `stage_config` validates the
section against the schema, fills what is missing from the schema's defaults, and builds the
stage's dataclass. The dataclasses declare fields only, so they cannot disagree with the schema.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from ptapt.errors import PtaptError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """What the training loop takes, whatever the stage (schema: $defs/training)."""

    lr: float
    warmup: float
    flat: float | None
    accumulation: int
    clip_grad_norm: float | None
    max_bad_steps: int
    checkpoint_every: int
    log_every: int
    device: str
    amp: str


@dataclass(frozen=True, kw_only=True)
class SpecAugmentConfig:
    """Time and channel masks in training (schema: $defs/spec_augment)."""

    mask_time_prob: float
    mask_time_length: int
    mask_time_min_masks: int
    mask_feature_prob: float
    mask_feature_length: int
    mask_feature_min_masks: int

    def spec_augment(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(SpecAugmentConfig)}


@dataclass(frozen=True, kw_only=True)
class Stage1Config(TrainingConfig, SpecAugmentConfig):
    wav2vec1: str
    freeze_encoder: bool
    head_hidden: int
    steps: int
    batch_size: int
    holdout_share: float
    seed: int
    keep: str
    eval_every: int | None


@dataclass(frozen=True, kw_only=True)
class Stage2Config:
    ks: list[int]
    niter: int
    max_points_per_centroid: int
    init: str
    candidates: int
    seed: int
    device: str


@dataclass(frozen=True, kw_only=True)
class PretrainConfig(TrainingConfig):
    steps: int
    seed: int
    batch_seconds: float
    max_crop_seconds: float
    bucket_ratio: float


@dataclass(frozen=True, kw_only=True)
class TaptConfig(PretrainConfig):
    mask_prob: float
    mask_length: int
    min_masks: int
    num_negatives: int
    diversity_weight: float
    gumbel_max: float
    gumbel_min: float
    gumbel_decay: float
    train_feature_encoder: bool
    loss_reduction: str
    diversity_scaling: str
    mask_padding: bool


@dataclass(frozen=True, kw_only=True)
class PtaptConfig(PretrainConfig):
    mask_prob: float
    mask_length: int
    min_masks: int
    head_hidden: int
    mask_padding: bool


@dataclass(frozen=True, kw_only=True)
class UnitsConfig:
    k: int
    weight: float
    unmasked_weight: float


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(TrainingConfig, SpecAugmentConfig):
    mode: str
    layer_weights: bool
    lora_rank: int
    lora_alpha: int
    epochs: int
    batch_size: int
    max_train_seconds: float
    bucket_ratio: float
    pooling: str
    standardize: bool
    mask_padding: bool

    def spec_augment(self) -> dict:
        """transformers config values of SpecAugment (applied in training only; both
        probabilities 0 switch it off)."""
        on = self.mask_time_prob > 0 or self.mask_feature_prob > 0
        return {"apply_spec_augment": on, **super().spec_augment()}


@dataclass(frozen=True, kw_only=True)
class LogmelConfig:
    n_mels: int
    window_ms: float
    hop_ms: float
    c: float
    max_iter: int


@dataclass(frozen=True, kw_only=True)
class SplitConfig:
    scheme: str
    k: int
    dir: str | None
    valid_share: float
    seed: int
    train_share: float
    subset_stages: str


# config section name -> (schema definition, dataclass)
SECTIONS = {
    "stage1": ("stage1", Stage1Config),
    "stage2": ("stage2", Stage2Config),
    "tapt": ("tapt", TaptConfig),
    "ptapt": ("ptapt", PtaptConfig),
    "units": ("units", UnitsConfig),
    "backbone_pretraining": ("tapt", TaptConfig),
    "finetune": ("finetune", FinetuneConfig),
    "logmel": ("logmel", LogmelConfig),
    "split": ("split", SplitConfig),
}


@cache
def schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


@cache
def _filling_validator(definition: str):
    """A validator of one $defs entry that also fills in the schema's defaults (as Snakemake's
    `validate` does), so a command run by hand gets the values the workflow would pass."""
    base = Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def fill_then_check(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    filling = validators.extend(base, {"properties": fill_then_check})
    return filling({"$ref": f"#/$defs/{definition}", "$defs": schema()["$defs"]})


def stage_config(section: str, values: dict | None = None, **overrides):
    """The dataclass of config section `section` ("stage1", "tapt", "finetune", ...): `values`
    updated by `overrides`, validated, missing keys taken from the schema's defaults."""
    if section not in SECTIONS:
        raise PtaptError(f"no config section {section!r}; known: {sorted(SECTIONS)}")
    definition, cls = SECTIONS[section]
    instance = {**copy.deepcopy(values or {}), **overrides}
    errors = sorted(_filling_validator(definition).iter_errors(instance), key=str)
    if errors:
        error = errors[0]
        where = ".".join([section, *map(str, error.absolute_path)])
        raise PtaptError(f"config {where}: {error.message}")
    return cls(**instance)


def parse_json(text: str, where: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise PtaptError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise PtaptError(f"{where}: expected a JSON object")
    return value


def steps_of(value: float, total: int) -> int:
    """A schedule length given as a share of `total` (below 1) or as a step count (1 or more)."""
    return int(round(value * total)) if value < 1 else int(value)
