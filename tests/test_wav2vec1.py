"""wav2vec 1.0 without fairseq: agreement with fairseq's own outputs, strict loading."""

import argparse
from pathlib import Path

import pytest
import torch

from ptapt.errors import PtaptError
from ptapt.models.wav2vec1 import LARGE, Wav2Vec1, Wav2Vec1Config

DATA = Path(__file__).parent / "data"
CHECKPOINT = DATA / "wav2vec1_small.pt"  # built by fairseq's Wav2VecModel, random weights


def load_raw():
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(CHECKPOINT, weights_only=True)


def test_matches_fairseq_outputs():
    expected = torch.load(DATA / "wav2vec1_small.expected.pt", weights_only=True)
    model = Wav2Vec1.from_fairseq(CHECKPOINT).eval()
    with torch.no_grad():
        z, c = model.extract(expected["wav"])
    assert z.shape == expected["z"].shape and c.shape == expected["c"].shape
    assert (z - expected["z"]).abs().max() <= 1e-4
    assert (c - expected["c"]).abs().max() <= 1e-4


def test_architecture_is_read_from_the_checkpoint_args():
    model = Wav2Vec1.from_fairseq(CHECKPOINT)
    assert len(model.feature_extractor.conv_layers) == 7
    assert len(model.feature_aggregator.conv_layers) == 4
    assert model.config.context_dim == 32 and model.config.skip_connections_agg


def test_large_config_matches_wav2vec_large():
    args = argparse.Namespace(
        conv_feature_layers="[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), "
        "(512, 1, 1), (512, 1, 1)]",
        conv_aggregator_layers="[" + ", ".join(f"(512, {k}, 1)" for k in range(2, 14)) + "]",
        skip_connections_agg=True,
        residual_scale=0.5,
        log_compression=True,
    )
    assert Wav2Vec1Config.from_fairseq_args(args) == LARGE
    n_params = sum(p.numel() for p in Wav2Vec1(LARGE).parameters())
    assert abs(n_params / 1e6 - 29.39) < 0.01  # extractor + aggregator of wav2vec_large


@pytest.mark.parametrize("change", ["missing", "unexpected", "shape"])
def test_mismatched_weights_are_refused(tmp_path, change):
    ckpt = load_raw()
    key = "feature_aggregator.conv_layers.2.1.weight"
    if change == "missing":
        del ckpt["model"][key]
    elif change == "unexpected":
        ckpt["model"]["feature_aggregator.extra.weight"] = torch.zeros(1)
    else:
        ckpt["model"][key] = torch.zeros(32, 32, 3)
    path = tmp_path / "bad.pt"
    torch.save(ckpt, path)
    with pytest.raises(PtaptError, match="weights do not match") as err:
        Wav2Vec1.from_fairseq(path)
    assert "bad.pt" in str(err.value)
    if change != "shape":
        assert (key if change == "missing" else "feature_aggregator.extra.weight") in str(err.value)


def test_unsupported_or_foreign_files_are_refused(tmp_path):
    ckpt = load_raw()
    ckpt["args"].vq_type = "gumbel"
    torch.save(ckpt, tmp_path / "vq.pt")
    with pytest.raises(PtaptError, match="vq-wav2vec"):
        Wav2Vec1.from_fairseq(tmp_path / "vq.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(PtaptError, match="junk.pt: cannot load"):
        Wav2Vec1.from_fairseq(tmp_path / "junk.pt")
    with pytest.raises(PtaptError, match="not found"):
        Wav2Vec1.from_fairseq(tmp_path / "absent.pt")
