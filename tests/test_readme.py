"""The README documents what the code has."""

import re

from conftest import REPO
from ptapt.cli import build_parser


def test_the_readme_names_every_subcommand():
    """The Development section's list of commands is the command line's."""
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    text = (REPO / "README.md").read_text()
    listed = text[text.index("`ptapt <command> --help` documents every command") :]
    listed = listed[: re.search(r"\(a\s+test", listed).start()]
    assert set(re.findall(r"`([a-z0-9-]+)`", listed)) == commands
