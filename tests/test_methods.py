"""The methods registry is the one list of methods: the schema, stage 3, the command line and
the workflow follow it."""

import subprocess
import sys

import yaml

from ptapt import methods
from ptapt.config import SCHEMA_PATH, SECTIONS, stage_config
from ptapt.stages import stage3


def test_the_schema_enum_lists_the_registry_in_table_order():
    defs = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]
    assert defs["dataset"]["properties"]["methods"]["items"]["enum"] == list(methods.METHODS)


def test_every_stage3_method_has_an_objective_and_a_config_section():
    continued = methods.names(methods.CONTINUED)
    assert continued and set(stage3.OBJECTIVES) == set(continued)
    for name in continued:
        stage_config(name)  # its schema section, under its own name
        assert name in SECTIONS


def test_each_method_s_finetune_settings_are_valid_finetune_keys():
    for method in methods.METHODS.values():
        stage_config("finetune", method.finetune)
    assert stage_config("finetune", methods.METHODS["probe"].finetune).mode == "frozen"


def test_order_titles_and_roles():
    assert methods.compared()[0] == "vft"  # plain fine-tuning comes first
    assert not methods.has_backbone("logmel") and methods.has_backbone("a-new-method")
    assert sorted(["zz", "ptapt", "logmel", "aa"], key=methods.rank) == [
        "logmel",
        "ptapt",
        "aa",
        "zz",
    ]
    assert methods.title("tapt") == "TAPT" and methods.title("mine") == "mine"


def test_the_command_line_offers_the_registry_s_methods(cli_env):
    run = subprocess.run(
        [sys.executable, "-m", "ptapt", "stage3", "--method", "vft", "--backbone", "{}"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "(choose from 'tapt', 'ptapt')" in run.stderr
