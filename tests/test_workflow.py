"""The DAG through real Snakemake runs on a tiny synthetic corpus, in a temporary directory."""

import csv
import json
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from conftest import REPO
from ptapt.cli import main

# The report's groups of figures (workflow/rules/common.smk).
PLOT_SUBCATEGORIES = ["UA by fold", "confusion matrices", "fine-tuning curves", "stage 2 clusters"]

TINY = {
    "default_datasets": ["mini"],
    "datasets": {
        "mini": {
            "synthetic": {"preset": "tiny", "seed": 0},
            "expect_counts": False,
            "folds": [1, 3],
            "seeds": [0],
            "recipe": "mini",
        },
        "iemocap": {"root": None},
    },
    "recipes": {
        "mini": {
            "backbone": {"preset": "tiny-wav2vec2"},
            "stage1": {
                "wav2vec1": "tiny",
                "steps": 10,
                "batch_size": 8,
                "log_every": 5,
                "mask_feature_length": 4,
            },
            "stage2": {"ks": [4, 8]},
            "backbone_pretraining": {"steps": 10, "batch_seconds": 10, "log_every": 5},
            "tapt": {"steps": 5, "batch_seconds": 10, "log_every": 5},
            "ptapt": {"steps": 5, "batch_seconds": 10, "log_every": 5},
            "finetune": {"epochs": 1, "batch_size": 8, "mask_feature_length": 8, "log_every": 2},
        },
        "paper": {"backbone": {"source": "facebook/wav2vec2-base"}},
    },
}


def snakemake(workdir, env, *args):
    cmd = [*snakemake_command(workdir), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def snakemake_command(workdir) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "2",
    ]


def write_config(workdir, config=TINY):
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def built(tmp_path_factory, cli_env):
    """A working directory where the default target was built once."""
    workdir = tmp_path_factory.mktemp("dag")
    write_config(workdir)
    run = snakemake(workdir, cli_env)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def test_default_target_builds_every_configured_fold(built):
    manifest = (built / "results/mini/manifest.tsv").read_text().splitlines()
    assert (
        len(manifest) == 1 + 60 and "resources/synthetic/iemocap_tiny_seed0/Session1" in manifest[1]
    )
    assert "Session1" in (built / "logs/mini/manifest.log").read_text()
    assert sorted(p.name for p in (built / "results/mini/folds").iterdir()) == [
        "fold1.json",
        "fold3.json",
    ]
    fold3 = json.loads((built / "results/mini/folds/fold3.json").read_text())
    assert fold3["test"] and all(u.startswith("Ses03") for u in fold3["test"])
    for fold in (1, 3):
        assert "stage 1" in (built / f"logs/mini/fold{fold}/stage1.log").read_text()
    assert not (built / "results/mini/fold2").exists()
    check_summary(built / "results/mini")
    leakage = (built / "results/mini/leakage_check.txt").read_text().splitlines()
    assert len(leakage) == 2 * 9 and all(line.startswith("ok ") for line in leakage)
    probe = json.loads((built / "results/mini/fold1/probe/seed0/model/classifier.json").read_text())
    assert probe["mode"] == "frozen" and probe["layer_weights"]
    logmel = (built / "results/mini/fold3/logmel/seed0/predictions.tsv").read_text().splitlines()
    assert logmel[0].startswith("utt_id\tlabel\tprediction\tp_neu") and len(logmel) > 1


def planned(run) -> dict[str, int]:
    """Job counts per rule from a dry run's job-stats table."""
    stats = run.stdout.split("Job stats:")[1].split("\n\n")[0]
    rows = [line.split() for line in stats.strip().splitlines()[2:]]
    return {name: int(count) for name, count in rows if name != "total"}


def test_a_second_run_has_nothing_to_do(built, cli_env):
    run = snakemake(built, cli_env)
    assert run.returncode == 0 and "Nothing to be done" in run.stderr + run.stdout


def test_changing_the_k_list_reruns_stage2_and_what_follows(built, cli_env):
    config = json.loads(json.dumps(TINY))
    config["recipes"]["mini"]["stage2"]["ks"] = [4, 6]
    write_config(built, config)
    try:
        run = snakemake(built, cli_env, "-n")
    finally:
        write_config(built)
    assert run.returncode == 0, run.stderr[-2000:]
    assert planned(run) == {
        "stage2": 2,
        "ptapt": 2,
        "finetune": 2,
        "check_leakage": 1,
        "summarize": 1,
        "plots": 1,
        "all": 1,
    }
    assert "Params have changed" in run.stdout


def test_forcing_one_rule_or_one_file(built, cli_env):
    run = snakemake(built, cli_env, "-n", "-R", "tapt")
    assert planned(run) == {
        "tapt": 2,
        "finetune": 2,
        "check_leakage": 1,
        "summarize": 1,
        "plots": 1,
        "all": 1,
    }
    run = snakemake(built, cli_env, "-n", "-f", "results/mini/fold3/stage2/pseudo_labels.npz")
    assert planned(run) == {"stage2": 1}


def check_summary(results):
    """Every method (the two references first), figures in range, the summary recomputable
    from runs.csv, and a paired test for every pair of methods."""
    runs = list(csv.DictReader(open(results / "runs.csv")))
    summary = {row["method"]: row for row in csv.DictReader(open(results / "ptapt_summary.csv"))}
    assert list(summary) == ["logmel", "probe", "vft", "tapt", "ptapt"]
    assert len(runs) == 5 * 2  # methods x folds x seeds
    tests = list(csv.DictReader(open(results / "significance.csv")))
    assert len(tests) == 10 and {(t["method"], t["versus"]) for t in tests} >= {
        ("ptapt", "tapt"),
        ("tapt", "vft"),
        ("vft", "probe"),
        ("vft", "logmel"),
    }
    assert all(0 < float(t["p_runs"]) <= 1 for t in tests)
    for method, row in summary.items():
        mine = [r for r in runs if r["method"] == method]
        for name in ("ua", "wa", "f1"):
            values = [float(r[name]) for r in mine]
            assert all(0 <= v <= 100 for v in values)
            assert float(row[f"{name}_mean"]) == pytest.approx(np.mean(values), abs=0.01)
        for fold in ("1", "3"):
            fold_ua = [float(r["ua"]) for r in mine if r["fold"] == fold]
            assert float(row[f"ua_fold{fold}"]) == pytest.approx(np.mean(fold_ua), abs=0.01)
        assert (row["n_folds"], row["n_seeds"]) == ("2", "1")
        assert 0 <= float(row["eer_mean"]) <= 100


def test_unset_corpus_root_is_a_clear_error(tmp_path, cli_env):
    write_config(tmp_path)
    run = snakemake(tmp_path, cli_env, "-n", "results/iemocap/folds/fold1.json")
    assert run.returncode != 0
    assert "datasets.iemocap.root is not set" in run.stderr + run.stdout


def test_config_is_validated_against_the_schema(tmp_path, cli_env):
    bad = {**TINY, "datasets": {"mini": {**TINY["datasets"]["mini"], "folds": "all"}}}
    write_config(tmp_path, bad)
    run = snakemake(tmp_path, cli_env, "-n")
    assert run.returncode != 0
    assert "'all' is not of type 'array'" in run.stderr + run.stdout


@pytest.mark.parametrize(
    "experiments,message",
    [
        ({"x": {"finetune": {"mode": "halfway"}}}, "experiments.x.finetune: 'halfway' is not one"),
        ({"x": {"finetune": {"epochz": 2}}}, "experiments.x.finetune: Unevaluated properties"),
        ({"folds": {"methods": ["vft"]}}, "'folds' does not match"),
    ],
)
def test_a_bad_experiment_is_refused_before_any_job(tmp_path, cli_env, experiments, message):
    config = json.loads(json.dumps(TINY))
    config["datasets"]["mini"]["experiments"] = experiments
    write_config(tmp_path, config)
    run = snakemake(tmp_path, cli_env, "-n")
    assert run.returncode != 0
    assert message in run.stderr + run.stdout


def test_paper_scale_job_graph(tmp_path, tiny_corpus, cli_env):
    """IEMOCAP pointed at a synthetic tree: 5 folds x 5 methods x 5 seeds in one dry run."""
    config = json.loads(json.dumps(TINY))
    config["default_datasets"] = ["iemocap"]
    config["datasets"]["iemocap"] = {"root": str(tiny_corpus), "expect_counts": False}
    config["recipes"]["paper"] = {
        "backbone": {"source": "facebook/wav2vec2-base", "revision": "main"},
        "stage1": {"wav2vec1": "wav2vec_large.pt"},
    }
    write_config(tmp_path, config)
    (tmp_path / "wav2vec_large.pt").write_bytes(b"")  # an input only; a dry run never reads it
    run = snakemake(tmp_path, cli_env, "-n")
    assert run.returncode == 0, run.stderr[-2000:]
    assert planned(run) == {
        "manifest": 1,
        "folds": 5,
        "stage1": 5,
        "stage2": 5,
        "tapt": 5,
        "ptapt": 5,
        "finetune": 100,
        "logmel": 25,
        "check_leakage": 1,
        "summarize": 1,
        "plots": 1,
        "all": 1,
    }


def test_one_fold_artifact_builds_only_its_inputs(tmp_path, cli_env):
    write_config(tmp_path)
    run = snakemake(tmp_path, cli_env, "-n", "results/mini/fold3/stage1/model.safetensors")
    assert planned(run) == {"synth_corpus": 1, "manifest": 1, "folds": 1, "stage1": 1}


def _layout_dataset(corpus: str, split: dict) -> dict:
    return {
        "corpus": corpus,
        "synthetic": {"preset": "tiny", "seed": 0},
        "expect_counts": False,
        "split": split,
        "folds": [1],
        "seeds": [0],
        "methods": ["logmel", "vft", "ptapt"],
        "recipe": "mini",
    }


def test_other_corpora_and_a_pool_run_to_a_summary(tmp_path, cli_env):
    """SAVEE (44.1 kHz), RAVDESS (48 kHz) and TESS (24,414 Hz) layouts, all stereo, through
    stages 1-4, and their 8-emotion pool; CREMA-D and EmoDB through fine-tuning; each dataset
    with its own label set."""
    config = json.loads(json.dumps(TINY))
    # 7-8 classes in 28-40 training clips: stage 1 holds out a third to have each class
    config["recipes"]["mini"]["stage1"]["holdout_share"] = 0.34
    config["datasets"] = {
        "savee": _layout_dataset("savee", {"scheme": "loso-speaker"}),
        "ravdess": _layout_dataset("ravdess", {"scheme": "speaker-kfold", "k": 2}),
        "tess": _layout_dataset("tess", {"scheme": "loso-speaker"}),
        "cremad": {
            **_layout_dataset("cremad", {"scheme": "speaker-kfold", "k": 2}),
            "methods": ["vft"],
        },
        "emodb": {
            **_layout_dataset("emodb", {"scheme": "speaker-kfold", "k": 2}),
            "methods": ["vft"],
        },
        "pool": {
            **_layout_dataset("pool", {"scheme": "speaker-kfold", "k": 2}),
            "pool": ["savee", "ravdess", "tess"],
            "labels": ["neu", "cal", "hap", "sad", "ang", "fea", "dis", "sur"],
        },
    }
    del config["datasets"]["pool"]["synthetic"]
    config["default_datasets"] = list(config["datasets"])
    write_config(tmp_path, config)
    run = snakemake(tmp_path, cli_env)
    assert run.returncode == 0, run.stderr[-3000:]
    classes = {"savee": 7, "ravdess": 8, "tess": 7, "cremad": 6, "emodb": 7, "pool": 8}
    for dataset, n_classes in classes.items():
        results = tmp_path / "results" / dataset
        summary = list(csv.DictReader(open(results / "ptapt_summary.csv")))
        methods = config["datasets"][dataset]["methods"]
        assert [row["method"] for row in summary] == methods
        header = (results / "fold1/vft/seed0/predictions.tsv").read_text().splitlines()[0]
        assert header.count("\tp_") == n_classes
    fold = json.loads((tmp_path / "results/ravdess/folds/fold1.json").read_text())
    assert fold["speaker_independent"] and fold["held_out"].startswith("speakers Actor_")
    pooled = (tmp_path / "results/pool/manifest.tsv").read_text()
    assert "ravdess/03-01-02-01-01-01-01" in pooled and "savee/DC_sa01" in pooled


def test_data_efficiency_datasets_give_the_paper_s_table_4(tmp_path, cli_env):
    """One fold at all and at half of its training utterances: the labelled stages train on the
    nested half, TAPT on all the fold's training audio; the table set holds the table."""
    config = json.loads(json.dumps(TINY))
    config["recipes"]["mini"]["stage1"]["holdout_share"] = 0.34  # 4 classes in 24 clips
    base = {**TINY["datasets"]["mini"], "folds": [1], "methods": ["vft", "tapt", "ptapt"]}
    config["datasets"] = {"full": base, "half": {**base, "split": {"train_share": 0.5}}}
    config["tables"] = {"t": {"data_efficiency": {"Session1": ["full", "half"]}}}
    write_config(tmp_path, config)
    run = snakemake(tmp_path, cli_env, "results/tables/t.md")
    assert run.returncode == 0, run.stderr[-3000:]
    half, full = (
        json.loads((tmp_path / f"results/{d}/folds/fold1.json").read_text())
        for d in ("half", "full")
    )
    assert set(half["train"]) < set(full["train"]) and half["train_audio"] == full["train"]
    ids = tmp_path / "results/half/fold1"
    assert set((ids / "stage1/train_ids.txt").read_text().split()) < set(half["train"])
    assert (ids / "stage3/ptapt/train_ids.txt").read_text().split() == half["train"]
    assert (ids / "stage3/tapt/train_ids.txt").read_text().split() == full["train"]
    table = (tmp_path / "results/tables/data_efficiency_Session1.md").read_text()
    assert "| Ratio (%) |" in table and "datasets: half, full" in table


def test_paper_reproduction_plans_in_one_dry_run(tmp_path, cli_env):
    """The shipped config's `paper` table set with every corpus root set: Tables 1-4 at five
    seeds, the backbone x mode grid and the HuBERT study, planned without reading any data."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for name, dataset in config["datasets"].items():
        if "synthetic" not in dataset and dataset.get("corpus") != "pool":
            dataset["root"] = f"/corpora/{name}"
    write_config(tmp_path, config)
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources/wav2vec_large.pt").write_bytes(b"")  # an input; never read here
    run = snakemake(tmp_path, cli_env, "-n", "results/tables/paper.md")
    assert run.returncode == 0, run.stderr[-2000:]
    jobs = planned(run)
    # IEMOCAP 5 folds x (probe, V-FT, TAPT, P-TAPT + 20 grid cells) x 5 seeds; SAVEE 4 folds
    # x 4 methods x 5 seeds; Table 4: 4 datasets x 3 methods x 5 seeds; pool8 5 folds x 3
    # experiments x 5 seeds.
    assert jobs["finetune"] == 5 * 24 * 5 + 4 * 4 * 5 + 4 * 3 * 5 + 5 * 3 * 5
    assert jobs["stage1"] == jobs["tapt"] == jobs["ptapt"] == 5 + 4 + 4
    assert jobs["summarize"] == 1 + 20 + 1 + 4 + 3
    assert jobs["domain_shift"] == 2 and jobs["table_set"] == 1


EXPERIMENTS = {
    "hub": {
        "backbone": {"preset": "tiny-hubert"},
        "finetune": {"mode": "entire"},
        "methods": ["vft"],
    },
    "lora": {"finetune": {"mode": "lora"}, "methods": ["vft", "tapt"]},
}


@pytest.fixture(scope="module")
def table_set(built, cli_env):
    """Experiments added to the built dataset, dry-run then built with a table set."""
    config = json.loads(json.dumps(TINY))
    config["datasets"]["mini"]["experiments"] = EXPERIMENTS
    config["tables"] = {
        "t": {"by_fold": ["mini"], "domain_shift": ["mini"], "experiments": ["mini"]}
    }
    write_config(built, config)
    try:
        dry = snakemake(built, cli_env, "-n", "results/tables/t.md")
        run = snakemake(built, cli_env, "results/tables/t.md")
    finally:
        write_config(built)
    assert run.returncode == 0, run.stderr[-3000:]
    return built, dry.stdout


def test_experiments_rerun_only_what_they_change(table_set):
    built, dry_run = table_set
    jobs = planned(SimpleNamespace(stdout=dry_run))
    assert {k: jobs.get(k, 0) for k in ("stage1", "stage2", "tapt", "ptapt", "logmel")} == {
        "stage1": 0,
        "stage2": 0,
        "tapt": 0,
        "ptapt": 0,
        "logmel": 0,
    }
    assert jobs["finetune"] == 2 * 3 and jobs["summarize"] == 2
    lora = built / "results/mini/lora/fold1"
    assert json.loads((lora / "tapt/seed0/model/classifier.json").read_text())["mode"] == "lora"
    command = next(c for c in dry_run.splitlines() if "--out-dir results/mini/lora/fold1/tapt" in c)
    assert """--backbone '{"source": "results/mini/fold1/stage3/tapt"}'""" in command
    assert not (lora / "stage3").exists()
    leakage = (built / "results/mini/lora/leakage_check.txt").read_text()
    assert "results/mini/lora/fold3/tapt/seed0/train_ids.txt" in leakage


def test_experiment_table_has_each_experiment_and_the_grid(table_set):
    built, _ = table_set
    text = (built / "results/tables/mini_experiments.md").read_text()
    assert "| hub | tiny-hubert | entire | vft |" in text
    assert "| lora | tiny-wav2vec2 | lora | tapt |" in text
    grid = text.split("by backbone and mode**")[1]
    assert "| backbone | entire | partial | lora |" in grid
    assert "| tiny-hubert | " in grid and "Confusion of hub (vft)" in text
    rows = list(csv.DictReader(open(built / "results/tables/mini_experiments.csv")))
    trainable = {(r["experiment"], r["method"]): r["trainable"] for r in rows}
    assert int(trainable[("lora", "vft")].replace(",", "")) < int(
        trainable[("(recipe)", "vft")].replace(",", "")
    )
    joined = (built / "results/tables/t.md").read_text()
    assert joined.index("Comparison of methods on mini") < joined.index("pretraining loss")


def test_domain_shift_scores_each_backbone_on_its_fold_s_test_audio(table_set):
    built, _ = table_set
    rows = list(csv.DictReader(open(built / "results/mini/domain_shift.csv")))
    assert [(r["model"], r["audio"]) for r in rows[:2]] == [
        ("initial", "reference"),
        ("initial", "all"),
    ]
    per_fold = [(r["fold"], r["model"], r["quantizer"]) for r in rows[2:]]
    assert per_fold == [
        (f, m, q)
        for f in ("1", "3")
        for m, q in [("initial", "own"), ("tapt", "own"), ("ptapt", "initial")]
    ]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    fold1 = {r["model"]: r["utterances"] for r in rows if r["fold"] == "1"}
    assert len(set(fold1.values())) == 1  # every backbone on the same test audio


def test_report_holds_the_summary_and_every_kind_of_figure(built, cli_env):
    run = snakemake(built, cli_env, "--report", "report.zip")
    assert run.returncode == 0, run.stderr[-3000:]
    with zipfile.ZipFile(built / "report.zip") as archive:
        names = Counter(Path(n).name for n in archive.namelist())
        page = next(archive.read(n) for n in archive.namelist() if n.endswith("report.html"))
    for table in ("runs.csv", "ptapt_summary.csv", "significance.csv", "ua_by_fold.png"):
        assert names[table] == 1, table
    assert names["fold1_vft_seed0.png"] == 2  # its confusion matrix and its training curves
    assert names["fold1_logmel_seed0.png"] == 1  # logmel trains no network: no curves
    for figure in ("fold1_stage1.png", "fold1_stage3_tapt.png", "fold3_stage3_ptapt.png"):
        assert names[figure] == 1, figure
    assert names["fold1.png"] == names["fold3.png"] == 1  # stage 2's clusters
    for subcategory in PLOT_SUBCATEGORIES:
        assert subcategory.encode() in page


def test_predict_repeats_a_run_s_test_predictions(built, capsys, monkeypatch):
    """`ptapt predict` on a run's model and its fold's test files gives the probabilities the
    run wrote to predictions.tsv."""
    monkeypatch.chdir(built)  # manifest paths are relative to the working directory
    run = Path("results/mini/fold3/tapt/seed0")
    written = list(csv.DictReader(open(run / "predictions.tsv"), delimiter="\t"))
    paths = {
        r["utt_id"]: r["path"]
        for r in csv.DictReader(open("results/mini/manifest.tsv"), delimiter="\t")
    }
    files = [paths[r["utt_id"]] for r in written]
    assert main(["predict", "--model", str(run / "model"), "--format", "jsonl", *files]) == 0
    predicted = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["path"] for p in predicted] == files
    for mine, theirs in zip(predicted, written, strict=True):
        assert mine["prediction"] == theirs["prediction"]
        for label in ("neu", "hap", "ang", "sad"):
            assert mine[f"p_{label}"] == pytest.approx(float(theirs[f"p_{label}"]), abs=1e-4)
