"""The schema is the only source of defaults: every stage dataclass is built from it."""

from dataclasses import fields

import pytest
import torch
import yaml
from snakemake.utils import validate

from conftest import REPO
from ptapt.config import SCHEMA_PATH, SECTIONS, stage_config
from ptapt.errors import PtaptError
from ptapt.methods import METHODS
from ptapt.training.schedule import adam_with_schedule


def schema_keys(definition: str) -> set[str]:
    """Keys a $defs entry accepts, through its allOf references."""
    defs = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]
    entry = defs[definition]
    keys = set(entry.get("properties", {}))
    for ref in entry.get("allOf", []):
        keys |= schema_keys(ref["$ref"].rsplit("/", 1)[-1])
    return keys


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_dataclass_field_is_a_schema_key_with_a_default(section):
    definition, cls = SECTIONS[section]
    assert {f.name for f in fields(cls)} == schema_keys(definition)
    built = stage_config(section)  # every field filled from the schema alone
    assert isinstance(built, cls)


def test_overrides_and_values_win_over_defaults():
    cfg = stage_config("tapt", {"steps": 7, "lr": 0.5}, steps=9)
    assert (cfg.steps, cfg.lr, cfg.mask_prob) == (9, 0.5, 0.05)
    assert stage_config("finetune").flat is None and stage_config("stage1").flat == 0.05


@pytest.mark.parametrize(
    "section,values,message",
    [
        ("stage1", {"stepz": 3}, r"config stage1: .*'stepz' was unexpected"),
        ("finetune", {"lr": -1e-4}, r"config finetune.lr: .*minimum of 0"),
        ("tapt", {"checkpoint_every": 0}, r"config tapt.checkpoint_every: .*minimum of 1"),
        ("ptapt", {"loss_reduction": "sum"}, r"'loss_reduction' was unexpected"),
        ("tapt", {"loss_reduction": "median"}, r"config tapt.loss_reduction: 'median' is not one"),
    ],
)
def test_bad_values_name_the_key(section, values, message):
    with pytest.raises(PtaptError, match=message):
        stage_config(section, values)


def test_the_workflow_fills_the_same_defaults_as_the_cli():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(SCHEMA_PATH))
    for recipe in config["recipes"].values():
        for section in set(SECTIONS) - {"split", "units"}:  # units: backbone recipe files
            built = stage_config(section, recipe[section])
            assert {f.name: getattr(built, f.name) for f in fields(built)} == recipe[section]
    for dataset in config["datasets"].values():
        built = stage_config("split", dataset["split"])
        assert {f.name: getattr(built, f.name) for f in fields(built)} == dataset["split"]
    assert config["recipes"]["paper"]["stage1"]["steps"] == 10000
    assert config["datasets"]["iemocap"]["split"]["scheme"] == "loso-session"
    assert set(config["datasets"]["iemocap"]["methods"]) <= set(METHODS)


def test_a_null_flat_stretch_keeps_the_rate_constant():
    model = torch.nn.Linear(2, 2)
    rates = [[], []]
    for flat, out in zip((None, 0.5), rates, strict=True):
        optimizer, schedule = adam_with_schedule(model, 1.0, 10, 0, flat)
        for _ in range(10):
            out.append(schedule.get_last_lr()[0])
            optimizer.step()
            schedule.step()
    assert rates[0] == [1.0] * 10
    assert rates[1][:5] == [1.0] * 5 and rates[1][-1] == pytest.approx(0.2)
