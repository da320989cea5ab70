"""The config schema and the stage dataclasses describe the same keys with the same defaults."""

from dataclasses import MISSING, fields

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO
from ptapt.config import from_dict
from ptapt.errors import PtaptError
from ptapt.stages.finetune import FinetuneConfig
from ptapt.stages.stage1 import Stage1Config
from ptapt.stages.stage2 import Stage2Config
from ptapt.stages.stage3 import PtaptConfig, TaptConfig

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def dataclass_defaults(cls) -> dict:
    return {
        f.name: f.default if f.default is not MISSING else f.default_factory() for f in fields(cls)
    }


STAGES = [
    ("stage1", Stage1Config),
    ("stage2", Stage2Config),
    ("tapt", TaptConfig),
    ("ptapt", PtaptConfig),
    ("finetune", FinetuneConfig),
]


@pytest.mark.parametrize("name,cls", STAGES)
def test_schema_defaults_are_the_dataclass_defaults(name, cls):
    properties = SCHEMA["$defs"][name]["properties"]
    assert {k: v["default"] for k, v in properties.items()} == dataclass_defaults(cls)


def test_shipped_config_is_valid_and_filled_with_defaults():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    paper = config["recipes"]["paper"]
    assert paper["stage1"]["steps"] == 10000 and paper["stage2"]["ks"] == [64, 512, 4096]
    assert config["datasets"]["iemocap"]["split"]["scheme"] == "loso-session"


def test_unknown_stage_keys_are_errors():
    with pytest.raises(PtaptError, match=r"unknown key\(s\) \['stepz'\]"):
        from_dict(Stage1Config, {"stepz": 3}, "stage1 config")
