import os
import sys
from pathlib import Path

import pytest

from ptapt.data.synthetic_corpus import write_corpus

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    """The demo preset of the synthetic IEMOCAP-layout corpus, generated once per test run."""
    return write_corpus(tmp_path_factory.mktemp("demo") / "corpus", "demo", seed=0, jobs=2)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("tiny") / "corpus", "tiny", seed=0, jobs=1)


@pytest.fixture
def cli_env() -> dict:
    """Environment for subprocesses: the interpreter's bin dir first, so `ptapt` resolves."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
