"""Stage 3 on a tiny backbone: TAPT and P-TAPT learn, survive short clips and NaNs, resume,
load strictly, and never see test audio."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, Wav2Vec2Config, Wav2Vec2Model

from conftest import BACKBONE, Killed
from ptapt.config import stage_config
from ptapt.data.batching import random_crops
from ptapt.data.pseudo_labels import PseudoLabels
from ptapt.errors import PtaptError
from ptapt.models.backbone import BackboneSpec, load_backbone, load_for_pretraining
from ptapt.models.contrastive import ContrastiveObjective
from ptapt.models.frames import num_frames
from ptapt.stages import domain_shift, stage3

TAPT = stage_config(
    "tapt",
    steps=50,
    lr=1e-3,
    warmup=0.1,
    batch_seconds=20,
    log_every=10,
    checkpoint_every=20,
    mask_prob=0.5,
    loss_reduction="mean",
    device="cpu",
)
PTAPT = stage_config(
    "ptapt",
    steps=500,
    lr=2e-3,
    warmup=0.1,
    batch_seconds=20,
    log_every=50,
    checkpoint_every=100,
    mask_prob=0.5,
    device="cpu",
)


@pytest.fixture(scope="module")
def audio(fold):
    """A quarter of the fold's training utterances (stage 3 reads only the fold's train ids)."""
    work, _, _ = fold
    full = stage3.fold_audio(str(work / "manifest.tsv"), str(work / "fold1.json"))
    return stage3.Audio(full.ids[::4], full.waves[::4])


@pytest.fixture(scope="module")
def tapt_run(audio, tmp_path_factory):
    out = tmp_path_factory.mktemp("tapt")
    metrics = stage3.run("tapt", audio, BACKBONE, TAPT, str(out / "out"), str(out / "work"))
    return out / "out", metrics


@pytest.fixture(scope="module")
def ptapt_run(audio, stage12, tmp_path_factory):
    work, _, _ = stage12
    out = tmp_path_factory.mktemp("ptapt")
    labels = str(work / "stage2/pseudo_labels.npz")
    metrics = stage3.run(
        "ptapt", audio, BACKBONE, PTAPT, str(out / "out"), str(out / "work"), labels
    )
    return out / "out", metrics, labels


def curve(path):
    lines = (path / "curve.csv").read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]


def test_tapt_contrastive_loss_falls(tapt_run):
    out, metrics = tapt_run
    rows = curve(out)
    assert len(rows) == TAPT.steps // TAPT.log_every
    assert rows[-1]["contrastive"] < rows[0]["contrastive"]
    assert metrics["last_loss"] < metrics["first_loss"]
    assert {"accuracy", "perplexity", "temperature", "grad_norm", "diversity"} <= rows[0].keys()
    assert {row["temperature"] for row in rows} == {2.0}  # held, as the reference's TAPT
    assert metrics["chance"]["accuracy"] == pytest.approx(1 / (TAPT.num_negatives + 1))
    assert metrics["final"]["accuracy"] > 2 * metrics["chance"]["accuracy"]


def test_ptapt_masked_accuracy_beats_the_majority_cluster(ptapt_run):
    out, metrics, labels_path = ptapt_run
    labels = PseudoLabels(labels_path)
    for k, ids in zip(labels.ks, labels.labels, strict=True):
        majority = np.bincount(ids).max() / len(ids)
        assert metrics["chance"][f"acc_k{k}"] == pytest.approx(majority)
        assert metrics["final"][f"acc_k{k}"] > majority, (k, majority)
    assert metrics["last_loss"] < metrics["first_loss"]
    assert metrics["last_loss"] < metrics["chance"]["loss"]  # below the cluster prior's entropy


def test_outputs_are_backbones_that_automodel_loads(tapt_run, ptapt_run):
    for out in (tapt_run[0], ptapt_run[0]):
        model = AutoModel.from_pretrained(out)
        assert isinstance(model, Wav2Vec2Model)
        assert not any(k.startswith("quantizer") for k in load_file(str(out / "model.safetensors")))


def test_only_training_ids_are_used(tapt_run, ptapt_run, audio, fold):
    _, f, _ = fold
    for out in (tapt_run[0], ptapt_run[0]):
        trained = (out / "train_ids.txt").read_text().split()
        assert trained == audio.ids and set(trained) <= set(f.train)
        assert not set(trained) & set(f.test)


def test_ptapt_freezes_the_convolutional_encoder(ptapt_run):
    out, _, _ = ptapt_run
    torch.manual_seed(PTAPT.seed)  # same seed and preset: the starting weights
    start = load_backbone(BACKBONE, **stage3.SPEC_OVERRIDES).state_dict()
    trained = load_file(str(out / "model.safetensors"))
    for key, value in trained.items():
        frozen = key.startswith(("feature_extractor.", "feature_projection.", "masked_spec_embed"))
        assert torch.equal(value, start[key]) == frozen, key


def test_a_clip_shorter_than_a_mask_span_trains(tmp_path):
    rng = np.random.default_rng(0)
    clip = stage3.Audio(["short"], [rng.standard_normal(3200).astype(np.float32) * 0.1])  # 0.2 s
    frames = num_frames(3200, [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2)
    assert frames < PTAPT.mask_length
    cfg = replace(TAPT, steps=3, mask_length=10)
    stage3.run("tapt", clip, BACKBONE, cfg, str(tmp_path / "t"), str(tmp_path / "wt"))
    npz = tmp_path / "labels.npz"
    np.savez(
        npz, utt_ids=np.array(["short"]), offsets=np.array([0, frames]), k4=np.arange(frames) % 4
    )
    metrics = stage3.run(
        "ptapt",
        clip,
        BACKBONE,
        replace(PTAPT, steps=3),
        str(tmp_path / "p"),
        str(tmp_path / "wp"),
        str(npz),
    )
    assert metrics["skipped_steps"] == 0 and np.isfinite(metrics["last_loss"])


def test_a_nan_loss_is_skipped_and_counted(audio, tmp_path, monkeypatch):
    real = ContrastiveObjective.forward
    calls = {"n": 0}

    def sometimes_nan(*args, **kwargs):
        loss, logs = real(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan"), logs) if calls["n"] == 3 else (loss, logs)

    monkeypatch.setattr(ContrastiveObjective, "forward", sometimes_nan)
    cfg = replace(TAPT, steps=6, log_every=3)
    metrics = stage3.run("tapt", audio, BACKBONE, cfg, str(tmp_path / "o"), str(tmp_path / "w"))
    assert metrics["skipped_steps"] == 1 and np.isfinite(metrics["last_loss"])

    def always_nan(*args, **kwargs):
        loss, logs = real(*args, **kwargs)
        return loss * float("nan"), logs

    monkeypatch.setattr(ContrastiveObjective, "forward", always_nan)
    with pytest.raises(PtaptError, match="3 consecutive non-finite steps"):
        stage3.run(
            "tapt",
            audio,
            BACKBONE,
            replace(cfg, max_bad_steps=3),
            str(tmp_path / "o2"),
            str(tmp_path / "w2"),
        )


def test_interrupted_ptapt_resumes_to_the_same_weights(
    audio, stage12, tmp_path, kill_after_checkpoint
):
    work, _, _ = stage12
    labels = str(work / "stage2/pseudo_labels.npz")
    cfg = replace(PTAPT, steps=30, checkpoint_every=10, log_every=10)
    stage3.run("ptapt", audio, BACKBONE, cfg, str(tmp_path / "a"), str(tmp_path / "wa"), labels)
    kill_after_checkpoint(20)
    with pytest.raises(Killed):
        stage3.run("ptapt", audio, BACKBONE, cfg, str(tmp_path / "b"), str(tmp_path / "wb"), labels)
    stage3.run("ptapt", audio, BACKBONE, cfg, str(tmp_path / "b"), str(tmp_path / "wb"), labels)
    a = load_file(str(tmp_path / "a/model.safetensors"))
    b = load_file(str(tmp_path / "b/model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a/curve.csv").read_text() == (tmp_path / "b/curve.csv").read_text()


def test_loading_is_strict(tapt_run, tmp_path):
    out, _ = tapt_run
    weights = load_file(str(out / "model.safetensors"))
    del weights["encoder.layer_norm.weight"]
    (tmp_path / "config.json").write_text((out / "config.json").read_text())
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(PtaptError, match=r"missing \['encoder.layer_norm.weight'\]"):
        load_backbone(BackboneSpec(source=str(tmp_path)))
    with pytest.raises(PtaptError, match="has no quantizer"):  # a backbone-only save
        load_for_pretraining(BackboneSpec(source=str(out)))
    with pytest.raises(PtaptError, match="needs a wav2vec 2.0 model"):
        load_for_pretraining(BackboneSpec(preset="tiny-hubert"))
    with pytest.raises(PtaptError, match="cannot load"):
        load_backbone(BackboneSpec(source=str(tmp_path / "absent")))


def test_crop_labels_are_the_full_utterance_frames():
    """A crop starting at a multiple of the stride sees exactly frames start/320.. of the whole
    utterance: same labels, and (with a per-frame normalised encoder) the same features."""
    config = Wav2Vec2Config(
        conv_dim=(8,) * 7,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        feat_extract_norm="layer",
        conv_bias=True,
    )
    torch.manual_seed(0)
    encoder = Wav2Vec2Model(config).feature_extractor.eval()
    layout = list(zip(config.conv_kernel, config.conv_stride, strict=True))
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(800, 40000))
        wave = rng.standard_normal(n).astype(np.float32)
        total = num_frames(n, layout)
        labels = PseudoLabels.__new__(PseudoLabels)
        labels.ks, labels.ids, labels.offsets = [total], {"u": 0}, np.array([0, total])
        labels.labels = [np.arange(total)]
        max_samples = int(rng.integers(400, n + 1))
        crops, starts = random_crops([wave], max_samples, 320, rng)
        frames = np.array([num_frames(len(crops[0]), layout)])
        (target,) = labels.targets(["u"], starts, frames, 320)
        first = starts[0] // 320
        assert starts[0] % 320 == 0 and first + frames[0] <= total
        assert target[0].tolist() == list(range(first, first + frames[0]))
        with torch.no_grad():
            full = encoder(torch.from_numpy(wave)[None])[0].T
            crop = encoder(torch.from_numpy(crops[0])[None])[0].T
        assert torch.allclose(crop, full[first : first + frames[0]], atol=1e-5)


def test_same_seed_same_weights_across_processes_and_threads(tiny_corpus, tmp_path, cli_env):
    """Two separate two-threaded runs end with identical weights (CPU kernels that accumulate
    in thread order would make them drift apart within a few dozen steps)."""
    config = '{"steps": 30, "batch_seconds": 10, "mask_prob": 0.5, "log_every": 10, "lr": 2e-3}'
    for name in ("a", "b"):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "ptapt",
                "stage3",
                "--method",
                "tapt",
                "--audio-dir",
                str(tiny_corpus),
                "--backbone",
                '{"preset": "tiny-wav2vec2"}',
                "--config",
                config,
                "--out-dir",
                str(tmp_path / name),
                "--work-dir",
                str(tmp_path / f"w{name}"),
                "--threads",
                "2",
            ],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
    a = (tmp_path / "a/model.safetensors").read_bytes()
    assert a == (tmp_path / "b/model.safetensors").read_bytes()


def test_pretraining_loss_repeats_exactly_and_moves_with_continued_pretraining(ptapt_run, audio):
    """Table 3's measure: eval mode with masks and negatives drawn from a fixed seed, so a
    second call gives the same figures; P-TAPT's backbone (no quantizer of its own) is scored
    with the initial model's quantizer."""
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    start = load_for_pretraining(BACKBONE, **stage3.SPEC_OVERRIDES)
    waves = audio.waves[:6]
    first = domain_shift.pretraining_loss(start, waves, TAPT, cpu)
    assert domain_shift.pretraining_loss(start, waves, TAPT, cpu) == first
    assert first["utterances"] == 6 and 0 <= first["accuracy"] <= 1
    continued, whose = domain_shift.continued(str(ptapt_run[0]), start)
    assert whose == "initial"
    assert torch.equal(continued.quantizer.codevectors, start.quantizer.codevectors)
    assert domain_shift.pretraining_loss(continued, waves, TAPT, cpu)["loss"] != first["loss"]


def test_a_directory_of_audio_includes_flac_as_librispeech_ships_it(tmp_path):
    """The reference read speech of the domain-shift table (LibriSpeech test-clean is FLAC)."""
    import soundfile as sf

    (tmp_path / "1089/134686").mkdir(parents=True)
    sf.write(tmp_path / "1089/134686/1089-134686-0000.flac", np.zeros(8000), 16000)
    sf.write(tmp_path / "b.wav", np.zeros(4000), 16000)
    (tmp_path / "._b.wav").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata, not audio
    (tmp_path / "1089/134686/1089-134686.trans.txt").write_text("1089-134686-0000 HE HOPED\n")
    audio = stage3.directory_audio(str(tmp_path))
    assert audio.ids == ["1089/134686/1089-134686-0000", "b"]
    assert [len(w) for w in audio.waves] == [8000, 4000]


def test_bf16_on_a_cpu_follows_float32_and_repeats_itself(audio, stage12, tmp_path):
    """`amp: bf16` on a CPU: the logged losses of a short P-TAPT run stay within 2 % of
    float32's, and the same seed gives the same numbers again in bf16."""
    work, _, _ = stage12
    labels = str(work / "stage2/pseudo_labels.npz")
    curves = {}
    for name, amp in (("fp32", "off"), ("bf16", "bf16"), ("bf16 again", "bf16")):
        cfg = replace(PTAPT, steps=20, log_every=5, checkpoint_every=20, amp=amp)
        out, ckpt = str(tmp_path / name / "out"), str(tmp_path / name / "ckpt")
        stage3.run("ptapt", audio, BACKBONE, cfg, out, ckpt, labels)
        curves[name] = curve(Path(out))
    assert curves["bf16"] == curves["bf16 again"]
    for full, half in zip(curves["fp32"], curves["bf16"], strict=True):
        assert half["loss"] == pytest.approx(full["loss"], rel=0.02)
    assert any(f["loss"] != h["loss"] for f, h in zip(curves["fp32"], curves["bf16"], strict=True))


def test_auto_precision_is_bf16_on_a_cpu_that_has_it_and_fp16_there_is_refused(monkeypatch):
    from ptapt.training import loop

    cpu = torch.device("cpu")
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: True)
    assert loop.amp_dtype("auto", cpu) == torch.bfloat16
    assert loop.precision("auto", cpu) == "bf16"
    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: False)
    assert loop.amp_dtype("auto", cpu) is None  # emulated bf16 would be slower than float32
    assert loop.amp_dtype("bf16", cpu) == torch.bfloat16
    assert loop.amp_dtype("off", cpu) is None
    with pytest.raises(PtaptError, match="amp 'fp16' needs a GPU"):
        loop.amp_dtype("fp16", cpu)


def test_a_trainable_feature_encoder_gets_its_gradients_without_the_waveform_s():
    """transformers marks the waveform as needing a gradient when the CNN trains; the loaded
    backbone skips that gradient, and every parameter's gradient stays exactly as it was."""
    torch.manual_seed(0)
    loaded = load_backbone(BACKBONE)
    plain = Wav2Vec2Model(loaded.config)  # built directly: transformers' own behaviour
    plain.load_state_dict(loaded.state_dict())
    first_input = []
    loaded.feature_extractor.conv_layers[0].register_forward_hook(
        lambda module, args, out: first_input.append(args[0].requires_grad)
    )
    waves = torch.randn(2, 16000)
    grads = []
    for model in (loaded, plain):
        model.train()
        torch.manual_seed(1)
        np.random.seed(1)  # transformers draws its SpecAugment masks from numpy's global state
        model(waves).last_hidden_state.square().mean().backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert first_input == [False]
    assert grads[0].keys() == grads[1].keys()
    assert any(n.startswith("feature_extractor.conv_layers.0.") for n in grads[0])
    for name, grad in grads[0].items():
        assert torch.equal(grad, grads[1][name]), name
