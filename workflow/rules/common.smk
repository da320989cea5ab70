# Configuration validation and the helpers every rule file uses.

import json
import os
import shlex
import shutil
import sys

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The corpus registry (standard library only) gives each corpus's native labels.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from ptapt.corpora import CORPORA

# The schema ships with the package: the CLI fills a stage's defaults from the same file.
SCHEMA = os.path.join(workflow.basedir, "src/ptapt/config.schema.yaml")
validate(config, SCHEMA)

with open(SCHEMA) as schema_file:
    METHODS = yaml.safe_load(schema_file)["$defs"]["dataset"]["properties"]["methods"][
        "items"
    ]["enum"]
# Every method but logmel fine-tunes a backbone (rule finetune); logmel has a rule of its own.
FINETUNED_METHODS = [method for method in METHODS if method != "logmel"]
# The probe: the initial backbone frozen, a learned weighted sum of its layers, the same head.
PROBE = {"mode": "frozen", "layer_weights": True}

# GPUs a training job holds: one where an NVIDIA driver is installed, none on a CPU-only
# machine (so CPU jobs are not serialised by the profile's GPU limit). profiles/slurm sets it
# explicitly for the compute nodes.
TRAINING_GPUS = 1 if shutil.which("nvidia-smi") else 0


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    fold=r"\d+",


def dataset_config(dataset):
    try:
        return config["datasets"][dataset]
    except KeyError:
        raise WorkflowError(
            f"config: no dataset {dataset!r}; configured: {sorted(config['datasets'])}"
        )


def get_corpus_root(wildcards):
    """The corpus root: generated under resources/ for synthetic datasets, else from config."""
    cfg = dataset_config(wildcards.dataset)
    if "synthetic" in cfg:
        return f"resources/{wildcards.dataset}/corpus"
    if not cfg["root"]:
        raise WorkflowError(
            f"config: datasets.{wildcards.dataset}.root is not set; set it to the corpus "
            f"directory (for IEMOCAP, the IEMOCAP_full_release folder) in config.yaml"
        )
    return cfg["root"]


def get_corpus_input(wildcards):
    """A synthetic corpus is a DAG input; a user's corpus lives outside the DAG."""
    if "synthetic" in dataset_config(wildcards.dataset):
        return get_corpus_root(wildcards)
    return []


def get_labels(wildcards):
    """The dataset's classes in order: configured, or the corpus's own."""
    cfg = dataset_config(wildcards.dataset)
    labels = cfg["labels"] or list(CORPORA.get(cfg["corpus"], CORPORA["table"]).labels)
    if not labels:
        raise WorkflowError(
            f"config: datasets.{wildcards.dataset}.labels must name the classes "
            f"(corpus {cfg['corpus']!r} has no label set of its own)"
        )
    return ",".join(labels)


def get_label_options(wildcards):
    """--labels and --label-map of the manifest commands."""
    cfg = dataset_config(wildcards.dataset)
    label_map = json.dumps(cfg["label_map"], sort_keys=True)
    return f"--labels {get_labels(wildcards)} --label-map {shlex.quote(label_map)}"


def pool_members(dataset):
    members = dataset_config(dataset)["pool"]
    if not members:
        raise WorkflowError(f"config: datasets.{dataset}.pool lists no dataset")
    return members


def get_manifest_inputs(wildcards):
    """A pool's member manifests, or the corpus when the DAG generates it."""
    if dataset_config(wildcards.dataset)["corpus"] == "pool":
        return expand(
            "results/{member}/manifest.tsv", member=pool_members(wildcards.dataset)
        )
    return get_corpus_input(wildcards)


def get_manifest_source(wildcards):
    """The ptapt command and arguments that read the dataset's source."""
    cfg = dataset_config(wildcards.dataset)
    if cfg["corpus"] == "pool":
        members = pool_members(wildcards.dataset)
        manifests = expand("results/{member}/manifest.tsv", member=members)
        return f"pool --manifests {' '.join(manifests)} --names {' '.join(members)}"
    root = shlex.quote(get_corpus_root(wildcards))
    return f"manifest --corpus {cfg['corpus']} --root {root} {get_count_check_flag(wildcards)}"


def get_synthetic_config(wildcards):
    cfg = dataset_config(wildcards.dataset)
    if "synthetic" not in cfg:
        raise WorkflowError(f"config: dataset {wildcards.dataset!r} is not synthetic")
    return cfg["synthetic"]


def get_count_check_flag(wildcards):
    return (
        ""
        if dataset_config(wildcards.dataset)["expect_counts"]
        else "--no-expect-counts"
    )


def get_split_config(wildcards):
    return json.dumps(dataset_config(wildcards.dataset)["split"], sort_keys=True)


def get_output_dir(wildcards, output):
    return os.path.dirname(output[0])


def recipe(dataset):
    name = dataset_config(dataset)["recipe"]
    if name not in config["recipes"]:
        raise WorkflowError(
            f"config: dataset {dataset!r} uses recipe {name!r}; defined: {sorted(config['recipes'])}"
        )
    return config["recipes"][name]


def get_stage_config(stage):
    """Params function: the stage's config section as JSON (a change reruns exactly that
    stage and what depends on it)."""

    def section(wildcards):
        return json.dumps(recipe(wildcards.dataset)[stage], sort_keys=True)

    return section


def get_backbone_spec(wildcards):
    return json.dumps(recipe(wildcards.dataset)["backbone"], sort_keys=True)


def get_wav2vec1_input(wildcards):
    """A wav2vec 1.0 checkpoint file is an input (missing -> a clear error); a preset is not."""
    spec = recipe(wildcards.dataset)["stage1"]["wav2vec1"]
    return [] if spec in ("tiny", "large") else spec


def backbone_is_preset(dataset):
    return recipe(dataset)["backbone"]["preset"] is not None


def get_initial_backbone(wildcards):
    """JSON spec of the model V-FT and stage 3 start from: the checkpoint named by the recipe,
    or, for a preset, the one pretrained from scratch by rule pretrain_backbone."""
    if backbone_is_preset(wildcards.dataset):
        return json.dumps({"source": f"results/{wildcards.dataset}/backbone"})
    return get_backbone_spec(wildcards)


def get_initial_backbone_files(wildcards):
    if backbone_is_preset(wildcards.dataset):
        return expand(
            "results/{dataset}/backbone/{file}",
            dataset=wildcards.dataset,
            file=["config.json", "model.safetensors"],
        )
    return []


def get_finetune_config(wildcards):
    """The recipe's finetune section; the probe's mode and layer weights on top for `probe`."""
    section = dict(recipe(wildcards.dataset)["finetune"])
    if wildcards.method == "probe":
        section.update(PROBE)
    return json.dumps(section, sort_keys=True)


def get_finetune_backbone(wildcards):
    """V-FT and the probe start from the dataset's backbone, TAPT and P-TAPT from the fold's
    stage 3."""
    if wildcards.method in ("vft", "probe"):
        return get_initial_backbone(wildcards)
    return json.dumps(
        {
            "source": f"results/{wildcards.dataset}/fold{wildcards.fold}/stage3/{wildcards.method}"
        }
    )


def get_finetune_backbone_files(wildcards):
    if wildcards.method in ("vft", "probe"):
        return get_initial_backbone_files(wildcards)
    return expand(
        "results/{dataset}/fold{fold}/stage3/{method}/{file}",
        **wildcards,
        file=["config.json", "model.safetensors"],
    )


def get_finetune_metrics(wildcards):
    cfg = dataset_config(wildcards.dataset)
    return expand(
        "results/{dataset}/fold{fold}/{method}/seed{seed}/metrics.json",
        dataset=wildcards.dataset,
        fold=cfg["folds"],
        method=cfg["methods"],
        seed=cfg["seeds"],
    )


def get_software_env(wildcards):
    """The conda environment file of every rule (used with --sdm conda only)."""
    return f"../../envs/{config['software_env']}.yaml"
