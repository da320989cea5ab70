"""The frozen mode's feature cache: the head sees what the backbone would have given it, and the
backbone runs once per training utterance, not once per batch."""

import numpy as np
import pytest
import torch

from conftest import BACKBONE, LABELS
from ptapt.config import stage_config
from ptapt.data.batching import collate
from ptapt.data.feature_cache import FeatureCache
from ptapt.models.backbone import conv_layout, load_backbone
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier
from ptapt.stages import finetune

CPU = torch.device("cpu")


def frozen_classifier(layer_weights: bool) -> UtteranceClassifier:
    torch.manual_seed(0)
    config = ClassifierConfig(LABELS, mode="frozen", layer_weights=layer_weights)
    return UtteranceClassifier(load_backbone(BACKBONE), config)


def waves(seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(int(s * 16000)).astype(np.float32) * 0.1 for s in [1, 1.5, 2] * 2]


@pytest.mark.parametrize("layer_weights", [False, True])
def test_cached_features_give_the_logits_of_the_backbone(tmp_path, layer_weights):
    model = frozen_classifier(layer_weights).train()
    audio = waves()
    cache = FeatureCache.build(model, audio, tmp_path / "f16", CPU, None)
    assert model.training  # the build leaves the mode as it found it
    layout = conv_layout(model.backbone.config)
    with torch.no_grad():
        for i, wave in enumerate(audio):
            direct = model(collate([wave], layout, False, CPU))
            cached = model.classify(*cache.batch(np.array([i]), CPU))
            assert torch.allclose(cached, direct, atol=2e-3)
        features, valid = cache.batch(np.array([0, 2]), CPU)  # 1 s and 2 s: padded to 2 s
        assert valid.sum(dim=1).tolist() == cache.counts[[0, 2]].tolist()
        assert features.shape[0] == (
            model.backbone.config.num_hidden_layers + 1 if layer_weights else 1
        )


def test_frozen_training_runs_the_backbone_once_per_utterance(tmp_path):
    model = frozen_classifier(layer_weights=True)
    audio, calls = waves(), []
    real = model.backbone.forward
    model.backbone.forward = lambda *a, **k: calls.append(1) or real(*a, **k)
    cache = FeatureCache.build(model, audio, tmp_path / "f16", CPU, None)
    cfg = stage_config("finetune", mode="frozen", layer_weights=True, batch_size=2)
    batches = finetune.length_buckets(audio, 32000, cfg, seed=0)
    step = finetune.utterance_steps(model, audio, np.arange(6) % 4, batches, cfg, CPU, cache)
    for s in range(6):
        loss, _ = step(s, 0, np.random.default_rng(s))
        loss.backward()
    assert len(calls) == len(audio)
    assert model.layer_weights.grad is not None and model.head.weight.grad is not None


def test_standardizing_statistics_from_the_cache_match_the_backbone_s(tmp_path):
    """`standardize` pools the training crops once: from the cache in the frozen mode, with
    the same result as running the backbone (one utterance per batch: no padding)."""
    model = frozen_classifier(layer_weights=True).train()
    audio = waves()
    cfg = stage_config("finetune", mode="frozen", layer_weights=True, batch_size=1)
    batches = finetune.length_buckets(audio, 32000, cfg, seed=0)
    cache = FeatureCache.build(model, audio, tmp_path / "f16", CPU, None)
    cached = finetune.pooled_features(model, audio, batches, cfg, CPU, cache)
    direct = finetune.pooled_features(model, audio, batches, cfg, CPU, None)
    assert model.training and cached.shape == (len(audio), model.backbone.config.hidden_size)
    assert torch.allclose(cached, direct, atol=2e-3)
