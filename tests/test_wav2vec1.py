"""wav2vec 1.0 without fairseq: agreement with fairseq's own outputs, strict loading."""

import argparse
import fractions
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


def fairseq_2019_checkpoint(path: Path, extra: dict | None = None) -> Path:
    """The fixture's weights in the full structure of the released wav2vec_large.pt: legacy
    (non-zip) torch serialisation, optimizer history, extra state and optimizer state holding
    numpy scalars pickled under numpy 1's module names."""
    import io

    import numpy as np

    raw = load_raw()
    ckpt = {
        **raw,
        "optimizer_history": [
            {
                "criterion_name": "BinaryCrossEntropyCriterion",
                "optimizer_name": "FairseqAdam",
                "lr_scheduler_state": {"best": np.float64(2.5)},
                "num_updates": 400000,
            }
        ],
        "extra_state": {"epoch": 12, "val_loss": np.float64(1.25), "train_iterator": {}},
        "last_optimizer_state": {"state": {}, "param_groups": [{"lr": 1e-5, "betas": (0.9, 0.98)}]},
        **(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(ckpt, buffer, _use_new_zipfile_serialization=False)
    numpy1 = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\nscalar" in numpy1
    path.write_bytes(numpy1)
    return path


def test_a_full_2019_checkpoint_loads_weights_only(tmp_path):
    full = Wav2Vec1.from_fairseq(fairseq_2019_checkpoint(tmp_path / "wav2vec_large.pt")).eval()
    small = Wav2Vec1.from_fairseq(CHECKPOINT).eval()
    assert all(
        torch.equal(a, b) for a, b in zip(full.parameters(), small.parameters(), strict=True)
    )


def test_a_checkpoint_with_other_objects_fails_in_one_line(tmp_path):
    odd = {"extra": fractions.Fraction(1, 3)}  # a class the allow-list does not name
    path = fairseq_2019_checkpoint(tmp_path / "odd.pt", odd)
    with pytest.raises(PtaptError, match=r"odd.pt: cannot load as a fairseq checkpoint") as err:
        Wav2Vec1.from_fairseq(path)
    assert "\n" not in str(err.value) and "save its 'args' and 'model'" in str(err.value)
