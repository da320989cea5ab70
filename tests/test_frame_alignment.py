"""Aligned wav2vec 1.0 frames count exactly like the backbone's frames, for every length."""

import types

import numpy as np
import pytest
import torch
from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

from ptapt.models.backbone import PRESETS, conv_layout
from ptapt.models.frame_classifier import ALIGNER, FrameClassifier, FrameClassifierConfig
from ptapt.models.frames import num_frames
from ptapt.models.wav2vec1 import LARGE, TINY

LENGTHS = np.arange(400, 160001, 37)
BASE_CONFIGS = [(Wav2Vec2Model, Wav2Vec2Config()), (HubertModel, HubertConfig())]  # base defaults


def hf_frames(model_cls, config, lengths):
    """The backbone's own frame count (transformers' formula, evaluated on its config)."""
    fake = types.SimpleNamespace(config=config)
    return model_cls._get_feat_extract_output_lengths(fake, torch.as_tensor(lengths)).numpy()


@pytest.mark.parametrize("model_cls,config", BASE_CONFIGS, ids=["wav2vec2-base", "hubert-base"])
@pytest.mark.parametrize("w1", [LARGE, TINY], ids=["wav2vec-large", "tiny"])
def test_aligned_frame_count_equals_backbone_frame_count(model_cls, config, w1):
    model = FrameClassifier(FrameClassifierConfig(w1, conv_layout(config), ["a", "b"]))
    left, right = model.padding
    aligned = [*w1.encoder_layout, ALIGNER]
    ours = np.array([num_frames(n + left + right, aligned) for n in LENGTHS])
    assert (ours == hf_frames(model_cls, config, LENGTHS)).all()


def test_forward_pass_yields_the_backbone_frame_count():
    layout = conv_layout(PRESETS["tiny-wav2vec2"])
    model = FrameClassifier(FrameClassifierConfig(TINY, layout, ["a", "b"])).eval()
    large = FrameClassifier(FrameClassifierConfig(LARGE, layout, ["a", "b"])).eval()
    expected = hf_frames(Wav2Vec2Model, Wav2Vec2Config(), LENGTHS)
    with torch.no_grad():
        for n, frames in list(zip(LENGTHS, expected, strict=True))[::23]:
            features = model.aligned_features(torch.zeros(1, int(n)))
            assert features.shape == (1, frames, TINY.context_dim)
        for n in (400, 719, 720, 16037):
            assert large.aligned_features(torch.zeros(1, n)).shape[1] == num_frames(n, layout)


def test_aligned_frames_are_centred_on_backbone_frames():
    # Aligned frame j spans input samples [320 j - left, 320 j - left + field): its centre is the
    # centre of the backbone's frame j, [320 j, 320 j + 400).
    model = FrameClassifier(FrameClassifierConfig(LARGE, conv_layout(Wav2Vec2Config()), ["a", "b"]))
    left, right = model.padding
    field = 945  # 465 samples of the encoder + 3 more encoder frames of 160 for the aligner
    assert (field - 1) / 2 - left == pytest.approx((400 - 1) / 2, abs=0.5)
    assert left + right == field - 400
