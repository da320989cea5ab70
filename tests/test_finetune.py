"""Stage 4: fine-tuning modes, determinism, validation, saved models, summary, leakage."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import BACKBONE, LABELS
from ptapt.cli import main
from ptapt.config import stage_config
from ptapt.data import leakage
from ptapt.data.audio import load_many
from ptapt.data.batching import collate
from ptapt.data.manifest import read_manifest, select
from ptapt.data.pseudo_labels import write_pseudo_labels
from ptapt.errors import PtaptError
from ptapt.models.backbone import conv_layout, load_backbone
from ptapt.models.utterance_classifier import ClassifierConfig, UtteranceClassifier, load_classifier
from ptapt.stages import finetune, summarize

FINETUNE = stage_config(
    "finetune",
    epochs=2,
    batch_size=16,
    lr=5e-4,
    max_train_seconds=3,
    mask_feature_length=8,
    log_every=5,
    checkpoint_every=1000,
    device="cpu",
)


def run_on_fold1(work, cfg, out_dir, work_dir, method="vft", seed=0) -> dict:
    """Stage 4 on the fold fixture's fold 1, tiny backbone, the demo's labels."""
    return finetune.run(
        str(work / "manifest.tsv"),
        str(work / "fold1.json"),
        BACKBONE,
        method,
        seed,
        cfg,
        LABELS,
        str(out_dir),
        str(work_dir),
    )


@pytest.fixture(scope="module")
def run_twice(fold, tmp_path_factory):
    work, _, _ = fold
    out = tmp_path_factory.mktemp("finetune")
    args = (
        str(work / "manifest.tsv"),
        str(work / "fold1.json"),
        BACKBONE,
        "vft",
        3,
        FINETUNE,
        LABELS,
    )
    first = finetune.run(*args, str(out / "a"), str(out / "wa"))
    second = finetune.run(*args, str(out / "b"), str(out / "wb"))
    return out, first, second


def test_same_seed_same_numbers(run_twice):
    out, first, second = run_twice
    assert (out / "a/metrics.json").read_text() == (out / "b/metrics.json").read_text()
    assert (out / "a/predictions.tsv").read_text() == (out / "b/predictions.tsv").read_text()
    assert first == second


def test_outputs_and_metrics(run_twice, fold):
    out, metrics, _ = run_twice
    _, f, _ = fold
    assert metrics["n_train"] == len(f.train) and sum(metrics["counts"].values()) == len(f.test)
    history = {int(k): v for k, v in metrics["valid_ua_per_epoch"].items()}
    assert 0 <= metrics["ua"] <= 1 and metrics["selected_epoch"] == max(history, key=history.get)
    assert np.array(metrics["confusion"]).sum() == len(f.test)
    rows = (out / "a/predictions.tsv").read_text().splitlines()
    assert rows[0].split("\t") == [
        "utt_id",
        "label",
        "prediction",
        "p_neu",
        "p_hap",
        "p_ang",
        "p_sad",
    ]
    assert [r.split("\t")[0] for r in rows[1:]] == f.test
    for row in rows[1:]:
        probs = [float(p) for p in row.split("\t")[3:]]
        assert abs(sum(probs) - 1) < 1e-4
        assert row.split("\t")[2] == LABELS[int(np.argmax(probs))]
    assert (out / "a/train_ids.txt").read_text().split() == f.train
    # partial mode: the CNN, the feature projection and the mask embedding stay as they are
    model = load_backbone(BACKBONE, **FINETUNE.spec_augment())
    frozen = [*model.feature_extractor.parameters(), *model.feature_projection.parameters()]
    frozen.append(model.masked_spec_embed)
    assert metrics["trainable_parameters"] == metrics["parameters"] - sum(p.numel() for p in frozen)
    assert set(metrics["eer"]) == set(LABELS) and 0 <= metrics["eer_macro"] <= 1


def test_saved_model_reproduces_the_predictions(run_twice, fold):
    out, _, _ = run_twice
    work, f, by_id = fold
    model = load_classifier(out / "a/model")
    assert model.config.labels == LABELS
    rows = [line.split("\t") for line in (out / "a/predictions.tsv").read_text().splitlines()[1:4]]
    probs = model.probabilities(load_many([by_id[r[0]].path for r in rows]))
    expected = np.array([[float(p) for p in r[3:]] for r in rows])
    assert np.allclose(probs, expected, atol=1e-5)


def test_training_loss_leaves_chance_in_a_short_run(fold, tmp_path):
    work, _, _ = fold
    cfg = replace(FINETUNE, epochs=6, mode="entire", lr=1e-3)
    metrics = run_on_fold1(work, cfg, tmp_path / "o", tmp_path / "w")
    assert metrics["train_loss_chance"] == pytest.approx(np.log(4))
    assert metrics["train_loss_first"] > 0.9 * metrics["train_loss_chance"]
    assert metrics["train_loss_last"] < 0.8 * metrics["train_loss_chance"]


def test_validation_selects_the_best_epoch(fold, tmp_path):
    work, f, _ = fold
    assert f.valid  # the fold fixture holds out 15 % for validation
    metrics = finetune.run(
        str(work / "manifest.tsv"),
        str(work / "fold1.json"),
        BACKBONE,
        "vft",
        0,
        replace(FINETUNE, epochs=3),
        LABELS,
        str(tmp_path / "o"),
        str(tmp_path / "w"),
    )
    history = {int(k): v for k, v in metrics["valid_ua_per_epoch"].items()}
    assert sorted(history) == [1, 2, 3]
    assert history[metrics["selected_epoch"]] == max(history.values())
    assert not (tmp_path / "w/best.pt").exists()


def trainable_names(mode: str, **kw) -> set[str]:
    torch.manual_seed(0)
    model = UtteranceClassifier(load_backbone(BACKBONE), ClassifierConfig(LABELS, mode, **kw))
    return model, {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("mode", ["partial", "entire", "frozen", "lora"])
def test_modes_train_what_they_should(mode):
    model, names = trainable_names(mode, layer_weights=mode == "frozen")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    waves = list(torch.randn(2, 16000).numpy())
    batch = collate(waves, conv_layout(model.backbone.config), False, torch.device("cpu"))
    loss = torch.nn.functional.cross_entropy(model(batch), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= names  # nothing frozen moved
    heads = {"head.weight", "head.bias"}
    if mode == "partial":
        assert not any(n.startswith("backbone.feature_extractor") for n in names)
        assert not any(n.startswith("backbone.feature_projection") for n in names)
        assert any(n.startswith("backbone.encoder.layers") for n in changed)
    elif mode == "entire":
        assert any(n.startswith("backbone.feature_extractor") for n in changed)
    elif mode == "frozen":
        assert names == heads | {"layer_weights"} and changed == names
    else:
        assert names - heads and all("lora_" in n for n in names - heads)
        assert {n.split(".")[-2] for n in names - heads} <= {"lora_A", "lora_B"} | {"default"}
        assert any(n.endswith(("q_proj.lora_A.default.weight",)) for n in names)


def test_a_standardizing_head_reads_unit_variance_features_and_saves_them(tmp_path):
    """`standardize`: the head reads pooled features with the training set's mean and std
    removed (as StandardScaler), and a saved model keeps and reapplies them."""
    from ptapt.models.utterance_classifier import save_classifier

    model, _ = trainable_names("frozen", standardize=True)
    model.eval()
    waves = [
        np.sin(np.arange(12000 + 2000 * i) * (0.01 + 0.004 * i)).astype(np.float32)
        for i in range(6)
    ]
    layout = conv_layout(model.backbone.config)
    with torch.no_grad():
        pooled = torch.cat(
            [
                model.pool(model.features(b), b.valid_mask)
                for b in (collate([w], layout, False, torch.device("cpu")) for w in waves)
            ]
        )
        model.standardize(pooled)
        scaled = (pooled - model.feature_mean) / model.feature_std
    assert torch.allclose(scaled.mean(0), torch.zeros(scaled.shape[1]), atol=1e-4)
    varying = pooled.std(0) > 1e-6
    assert varying.any() and torch.allclose(scaled.std(0)[varying], torch.ones(1), atol=1e-3)
    save_classifier(model, tmp_path / "m", {})
    loaded = load_classifier(tmp_path / "m")
    assert loaded.config.standardize and torch.equal(loaded.feature_std, model.feature_std)
    assert np.allclose(loaded.probabilities(waves), model.probabilities(waves), atol=1e-6)
    plain, _ = trainable_names("frozen")
    assert "feature_mean" not in plain.state_dict()  # the reference head is unchanged


def test_layer_weights_need_the_frozen_mode():
    with pytest.raises(PtaptError, match="frozen mode only"):
        trainable_names("partial", layer_weights=True)


def test_summary_arithmetic(tmp_path):
    # UA per (fold, seed) for one method; WA and F1 follow with offsets.
    ua = {(1, 0): 0.60, (2, 0): 0.70, (3, 0): 0.80, (1, 1): 0.62, (2, 1): 0.68, (3, 1): 0.86}
    paths = []
    for (fold, seed), value in ua.items():
        path = tmp_path / f"m{fold}{seed}.json"
        path.write_text(
            json.dumps(
                {
                    "method": "tapt",
                    "fold": fold,
                    "seed": seed,
                    "ua": value,
                    "wa": value - 0.1,
                    "macro_f1": value - 0.2,
                }
            )
        )
        paths.append(str(path))
    table = summarize.run(
        paths, *(str(tmp_path / f) for f in ("runs.csv", "summary.csv", "significance.csv"))
    )
    header, row = (tmp_path / "summary.csv").read_text().splitlines()
    summary = dict(zip(header.split(","), row.split(","), strict=True))
    assert float(summary["ua_mean"]) == 71.0 and float(summary["wa_mean"]) == 61.0
    assert float(summary["f1_mean"]) == 51.0
    assert float(summary["ua_fold_std_of_means"]) == round(np.sqrt(248 / 3), 2)  # 61 69 83
    assert float(summary["ua_run_std"]) == 1.0  # seed means 70 and 72
    assert [float(summary[f"ua_fold{f}"]) for f in (1, 2, 3)] == [61.0, 69.0, 83.0]
    assert (summary["n_folds"], summary["n_seeds"]) == ("3", "2")
    assert "tapt" in table and len((tmp_path / "runs.csv").read_text().splitlines()) == 7
    with pytest.raises(PtaptError, match="missing"):
        summarize.run(paths[:-1], *(str(tmp_path / f) for f in ("r.csv", "s.csv", "p.csv")))


def test_leakage_guard(tmp_path):
    root = tmp_path / "results/ds"
    (root / "folds").mkdir(parents=True)
    (root / "folds/fold1.json").write_text(json.dumps({"test": ["a", "b"], "train": ["c", "d"]}))
    (root / "fold1/stage1").mkdir(parents=True)
    (root / "fold1/stage1/train_ids.txt").write_text("c\nd\n")
    write_pseudo_labels(
        root / "fold1/stage2/pseudo_labels.npz", ["c", "d"], [2, 3], {4: np.zeros(5)}
    )
    assert len(leakage.check(root)) == 2
    (root / "fold1/vft/seed0").mkdir(parents=True)
    (root / "fold1/vft/seed0/train_ids.txt").write_text("c\nb\n")
    with pytest.raises(PtaptError, match="seed0/train_ids.txt: trained on 1 test utterance"):
        leakage.check(root)


def test_predict_command_classifies_files(run_twice, fold, capsys):
    out, _, _ = run_twice
    _, f, by_id = fold
    rows = [line.split("\t") for line in (out / "a/predictions.tsv").read_text().splitlines()]
    first = rows[1]
    assert main(["predict", "--model", str(out / "a/model"), by_id[first[0]].path]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split("\t") == ["path", "prediction", *rows[0][3:]]
    cells = line.split("\t")
    assert cells[1] == first[2]
    assert np.allclose([float(c) for c in cells[2:]], [float(c) for c in first[3:]], atol=1e-4)


def test_interrupted_stage4_resumes_to_the_same_model(fold, tmp_path, kill_after_checkpoint):
    """A kill after the first epoch's validation (best.pt written) and the rerun give the files
    of an uninterrupted run."""
    from conftest import Killed

    work, f, _ = fold
    rows = select(read_manifest(str(work / "manifest.tsv")), f.train, "fold1.json")
    crop = int(FINETUNE.max_train_seconds * 16000)
    crops = [np.zeros(min(r.num_samples, crop)) for r in rows]
    per_epoch = len(finetune.length_buckets(crops, crop, FINETUNE, seed=1).epoch(0))
    cfg = replace(FINETUNE, checkpoint_every=per_epoch + 1)
    args = (str(work / "manifest.tsv"), str(work / "fold1.json"), BACKBONE, "vft", 1, cfg, LABELS)
    finetune.run(*args, str(tmp_path / "whole"), str(tmp_path / "w1"))
    kill_after_checkpoint(per_epoch + 1)
    with pytest.raises(Killed):
        finetune.run(*args, str(tmp_path / "resumed"), str(tmp_path / "w2"))
    assert (tmp_path / "w2/best.pt").exists() and (tmp_path / "w2/last.pt").exists()
    finetune.run(*args, str(tmp_path / "resumed"), str(tmp_path / "w2"))
    for name in ("metrics.json", "predictions.tsv", "model/head.safetensors"):
        assert (tmp_path / "whole" / name).read_bytes() == (
            tmp_path / "resumed" / name
        ).read_bytes()
    timing = [json.loads((tmp_path / d / "timing.json").read_text()) for d in ("whole", "resumed")]
    assert timing[0]["resumed_at_step"] == 0 and timing[1]["resumed_at_step"] == per_epoch + 1
    assert timing[0]["steps"] == timing[1]["steps"] and timing[0]["seconds"] > 0
    assert not (tmp_path / "w2/timing.json").exists()


def test_float32_predictions_do_not_depend_on_the_thread_count(fold, tmp_path):
    """What the README promises across thread counts: in float32 (`amp: off`) the same seed
    gives the same predictions on one thread and on two (the weights may differ in the last
    bits: kernels sum in thread order). bf16 rounding would let those bits flip predictions."""
    work, _, _ = fold
    cfg = replace(FINETUNE, amp="off")
    threads = torch.get_num_threads()
    out = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            run_on_fold1(work, cfg, tmp_path / f"o{n}", tmp_path / f"w{n}")
            rows = (tmp_path / f"o{n}/predictions.tsv").read_text().splitlines()[1:]
            out[n] = [r.split("\t")[2] for r in rows]
    finally:
        torch.set_num_threads(threads)
    assert out[1] == out[2]
