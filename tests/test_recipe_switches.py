"""Each place the recipe may differ from the reference is a config key whose default is the
reference's behaviour, and each setting does what it says."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import BACKBONE, LABELS, STAGE1
from ptapt.config import stage_config
from ptapt.data.batching import collate
from ptapt.errors import PtaptError
from ptapt.models import kmeans
from ptapt.models.backbone import (
    BackboneSpec,
    conv_layout,
    load_backbone,
    load_for_pretraining,
    save_backbone,
)
from ptapt.models.contrastive import ContrastiveObjective, gumbel_temperature
from ptapt.models.frames import num_frames
from ptapt.models.masking import padded_time_mask, valid_frames, zero_spans
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier
from ptapt.stages import finetune, stage1

CPU = torch.device("cpu")


def test_defaults_are_the_reference_recipe():
    s1, s2 = stage_config("stage1"), stage_config("stage2")
    assert (s1.mask_time_prob, s1.mask_time_length, s1.mask_time_min_masks) == (0.08, 15, 2)
    assert (s1.mask_feature_prob, s1.mask_feature_length, s1.keep) == (0.05, 64, "best")
    assert s2.max_points_per_centroid == 500000
    ft = stage_config("finetune")
    assert (ft.pooling, ft.mask_padding) == ("mean-of-relu", True)
    assert stage_config("ptapt").mask_padding and not stage_config("tapt").mask_padding
    assert stage_config("tapt").diversity_scaling == "none"
    assert stage_config("tapt").gumbel_decay == 1.0  # the temperature stays at 2 (N4)


def test_gumbel_temperature_decays_only_when_asked():
    assert gumbel_temperature(5000, 2.0, 0.5, 1.0) == 2.0
    assert gumbel_temperature(1000, 2.0, 0.5, 0.999) == pytest.approx(2.0 * 0.999**1000)
    assert gumbel_temperature(10**6, 2.0, 0.5, 0.999) == 0.5


def test_stage1_spec_augment_zeroes_spans_in_training_only():
    np.random.seed(0)
    z = torch.ones(4, 32, 150)
    masked = zero_spans(z, stage_config("stage1", mask_feature_length=4).__dict__)
    time_share = (masked == 0).all(dim=1).float().mean().item()
    channel_share = (masked == 0).all(dim=2).float().mean().item()
    assert 0.1 < time_share < 0.4 and channel_share == pytest.approx(4 / 32)
    model = stage1.build_model(STAGE1, LABELS, BACKBONE)
    wav = torch.randn(2, 16000)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(wav)[0], model(wav)[0])  # eval: no masks
        model.train()
        assert not torch.equal(model(wav)[0], model.eval()(wav)[0])


def test_a_channel_mask_wider_than_the_encoder_is_a_config_error():
    with pytest.raises(PtaptError, match=r"stage1.mask_feature_length: 64 exceeds the 32"):
        stage1.build_model(replace(STAGE1, mask_feature_length=64), LABELS, BACKBONE)


def test_stage1_keeps_the_weights_of_the_lowest_held_out_loss(stage12):
    _, metrics, _ = stage12
    losses = {int(k): v for k, v in metrics["held_out_loss"].items()}
    assert len(losses) >= 3 and metrics["selected_step"] == min(losses, key=losses.get)


def test_kmeans_trains_on_every_frame_by_default():
    frames = np.random.default_rng(0).standard_normal((3000, 8)).astype(np.float32)
    every = kmeans.fit(frames, 4, niter=5, max_points_per_centroid=3000)
    assert np.array_equal(kmeans.fit(frames, 4, niter=5), every)
    assert not np.array_equal(kmeans.fit(frames, 4, niter=5, max_points_per_centroid=50), every)


def classifier(pooling: str) -> UtteranceClassifier:
    torch.manual_seed(0)
    return UtteranceClassifier(load_backbone(BACKBONE), ClassifierConfig(LABELS, pooling=pooling))


def test_pooling_of_the_reference_code_and_of_the_paper_text_differ():
    waves = list(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32))
    reference, paper = classifier("mean-of-relu").eval(), classifier("relu-of-mean").eval()
    batch = collate(waves, conv_layout(reference.backbone.config), False, CPU)
    with torch.no_grad():
        hidden = reference.backbone(batch.wav).last_hidden_state
        expected = reference.head(torch.relu(hidden).mean(dim=1))
        assert torch.allclose(reference(batch), expected, atol=1e-5)
        assert not torch.allclose(paper(batch), expected, atol=1e-3)


@pytest.mark.parametrize("mask_padding", [True, False])
def test_stage4_masks_padding_when_asked(mask_padding):
    model = classifier("mean-of-relu")
    seen = []
    model.forward = lambda batch, mask=None: seen.append(batch) or torch.zeros(len(batch.ids), 4)
    waves = [np.ones(16000, np.float32), np.ones(8000, np.float32)] * 4
    cfg = stage_config("finetune", batch_size=2, mask_padding=mask_padding)
    batches = finetune.length_buckets(waves, 16000, cfg, seed=0)
    step = finetune.utterance_steps(model, waves, np.arange(8) % 4, batches, cfg, CPU)
    step(0, 0, np.random.default_rng(0))
    assert (seen[0].attention is not None) == mask_padding


def test_stage4_masks_short_utterances_at_the_reference_rate():
    """Fidelity N1: SpecAugment's time spans are drawn over a full training crop's frames (the
    padded length of the reference's random batches), then kept inside each utterance. With
    the default rate, 1 s clips get about 7 % of their frames masked and most get no span (the
    reference: 7.2 %, 74 %), not half of every clip as per-utterance spans would give."""
    cfg = stage_config("finetune")
    layout = conv_layout(load_backbone(BACKBONE).config)
    crop = num_frames(int(cfg.max_train_seconds * 16000), layout)
    args = (cfg.mask_time_prob, cfg.mask_time_length, cfg.mask_time_min_masks, crop)
    np.random.seed(0)
    clips = np.ones((64, num_frames(16000, layout)), dtype=bool)
    masks = np.stack([padded_time_mask(clips, *args) for _ in range(50)])
    assert 0.04 < masks.mean() < 0.11
    assert (~masks.any(axis=2)).mean() > 0.5
    mixed = valid_frames(np.array([16000, 48000, 160000]), layout)
    for _ in range(20):
        assert not (padded_time_mask(mixed, *args) & ~mixed).any()  # never in padding


def test_stage4_passes_its_time_mask_to_the_backbone_in_training_only():
    model = classifier("mean-of-relu")
    waves = list(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32))
    batch = collate(waves, conv_layout(model.backbone.config), False, CPU)
    everything = torch.ones(batch.valid.shape, dtype=torch.bool)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(batch, everything), model(batch))
        model.train()
        model.backbone.config.mask_feature_prob = 0.0  # only the time mask in play
        torch.manual_seed(1)
        masked = model(batch, everything)
        torch.manual_seed(1)
        assert not torch.allclose(masked, model(batch, None))


def test_spec_augment_off_loads_a_saved_backbone_and_fine_tunes(tmp_path):
    torch.manual_seed(0)
    save_backbone(load_backbone(BACKBONE), tmp_path / "backbone")  # holds masked_spec_embed
    cfg = stage_config("finetune", mask_time_prob=0.0, mask_feature_prob=0.0)
    for mode in ("partial", "entire"):
        model = finetune.build_classifier(
            BackboneSpec(source=str(tmp_path / "backbone")), replace(cfg, mode=mode), LABELS
        )
        assert not model.backbone.config.apply_spec_augment


@pytest.mark.parametrize("scaling", ["none", "masked-frames"])
def test_diversity_scaling(scaling):
    cfg = stage_config("tapt", mask_prob=0.5, num_negatives=5, diversity_scaling=scaling)
    torch.manual_seed(0)
    objective = ContrastiveObjective(load_for_pretraining(BACKBONE), cfg).eval()
    waves = list(np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32))
    batch = collate(waves, conv_layout(objective.backbone.config), False, CPU)
    np.random.seed(0)
    torch.manual_seed(0)
    with torch.no_grad():
        loss, logs = objective(batch, 0)
    n_masked = round(logs["masked_share"] * batch.valid.sum())
    contrastive = logs["contrastive"] * n_masked
    per_batch = logs["diversity"] * (n_masked if scaling == "masked-frames" else 1)
    assert loss.item() == pytest.approx(contrastive + 0.1 * per_batch, rel=1e-4)
