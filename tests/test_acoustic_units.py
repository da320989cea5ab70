"""Acoustic units for pretraining from scratch: MFCC frames cut where the CNN's frames look,
k-means ids in the pseudo-labels format, and the contrastive + units objective."""

import numpy as np
import torch
from transformers import Wav2Vec2ForPreTraining

from conftest import BACKBONE
from ptapt.config import stage_config
from ptapt.data.batching import collate
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.models.acoustic_units import mfcc, write_units
from ptapt.models.backbone import conv_layout, load_backbone, load_for_pretraining
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.contrastive_units import ContrastiveWithUnits
from ptapt.stages import stage3

TAPT = stage_config("tapt", mask_prob=0.5, loss_reduction="mean", device="cpu")
UNITS = stage_config("units", k=4)


def tone_then_noise(n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples // 2) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
    return np.concatenate([tone, 0.3 * rng.standard_normal(n_samples - len(tone))]).astype(
        np.float32
    )


def test_one_mfcc_frame_per_backbone_frame_at_any_length():
    model = load_backbone(BACKBONE).eval()
    layout = conv_layout(model.config)
    for n in (400, 719, 720, 16000, 16321, 33333):
        wave = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        with torch.no_grad():
            cnn = model.feature_extractor(torch.from_numpy(wave)[None])
        assert mfcc(wave, layout).shape == (cnn.shape[-1], 39)


def test_a_crop_at_a_stride_multiple_has_the_full_utterance_s_frames():
    """The units of a crop are the full utterance's units from frame start / stride: the
    cepstra before mean removal must match there."""
    layout = conv_layout(load_backbone(BACKBONE).config)
    wave = tone_then_noise(32000, 0)
    full, crop = mfcc(wave, layout), mfcc(wave[6400:22400], layout)
    start = 6400 // 320
    shift = full[start : start + len(crop), :13] - crop[:, :13]  # a constant: the two means
    assert np.allclose(shift, shift[0], atol=1e-3)
    assert not np.allclose(full[: len(crop), :13] - crop[:, :13], shift[0], atol=1e-1)


def test_units_are_pseudo_labels_that_tell_sounds_apart(tmp_path):
    layout = conv_layout(load_backbone(BACKBONE).config)
    waves = [tone_then_noise(n, seed) for seed, n in enumerate((24000, 32000, 40000))]
    ids = ["a", "b/c", "d"]
    report = write_units(ids, waves, layout, 2, 0, tmp_path / "units.npz")
    labels = PseudoLabels(tmp_path / "units.npz")
    labels.check(ids, [len(w) for w in waves], layout)  # one unit per backbone frame
    assert labels.ks == [2] and report["frames"] == len(labels.labels[0])
    for i in range(len(waves)):
        units = labels.labels[0][labels.offsets[i] : labels.offsets[i + 1]]
        edge = len(units) // 2
        tone, noise = units[2 : edge - 2], units[edge + 2 : -2]  # away from the joint
        assert np.bincount(tone).argmax() != np.bincount(noise).argmax()
        assert max(np.bincount(tone).max() / len(tone), np.bincount(noise).max() / len(noise)) > 0.9


def test_the_objective_trains_the_cnn_through_the_units_and_keeps_the_quantizer(tmp_path):
    torch.manual_seed(0)
    base = ContrastiveObjective(load_for_pretraining(BACKBONE, **stage3.SPEC_OVERRIDES), TAPT)
    layout = conv_layout(base.backbone.config)
    waves = [tone_then_noise(n, seed) for seed, n in enumerate((24000, 32000))]
    write_units(["a", "b"], waves, layout, 4, 0, tmp_path / "u.npz")
    objective = ContrastiveWithUnits(base, PseudoLabels(tmp_path / "u.npz"), UNITS)
    batch = collate(waves, layout, False, "cpu", ["a", "b"], np.zeros(2, dtype=int))
    loss, logs = objective(batch, 0)
    assert torch.isfinite(loss)
    assert 0 <= logs["unit_accuracy"] <= 1 and 0 <= logs["unit_unmasked_accuracy"] <= 1
    contrastive_only, _ = ContrastiveObjective.loss(base, *base.outputs(batch, 0))
    assert loss.item() > contrastive_only.item()  # the units' cross-entropy is added
    loss.backward()
    cnn = base.backbone.feature_extractor.conv_layers[0].conv.weight
    assert cnn.grad is not None and cnn.grad.abs().sum() > 0
    assert objective.head[0].weight.grad.abs().sum() > 0
    assert isinstance(objective.saved_model(True), Wav2Vec2ForPreTraining)


def test_pretraining_from_scratch_writes_a_backbone_with_its_units_report(tmp_path):
    waves = [tone_then_noise(16000 + 4000 * i, i) for i in range(6)]
    audio = stage3.Audio([f"u{i}" for i in range(6)], waves)
    cfg = stage_config("tapt", steps=4, batch_seconds=4, log_every=2, mask_prob=0.5, device="cpu")
    metrics = stage3.from_scratch(
        audio, BACKBONE, cfg, UNITS, str(tmp_path / "out"), str(tmp_path / "work")
    )
    saved = Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "out")
    assert saved.quantizer is not None
    assert metrics["method"] == "pretrain" and metrics["chance"]["unit_accuracy"] > 0
    header = (tmp_path / "out/curve.csv").read_text().splitlines()[0].split(",")
    assert {"contrastive", "unit_accuracy", "unit_unmasked_accuracy"} <= set(header)
    written = (tmp_path / "out/metrics.json").read_text()
    assert '"units"' in written and '"inertia_per_frame"' in written
