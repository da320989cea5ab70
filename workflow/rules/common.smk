# Configuration validation and the helpers every rule file uses.

import json
import os
import re
import shlex
import shutil
import sys

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The corpus registry gives each corpus's native labels; the methods registry each method's
# starting point. Both are standard library only.
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from ptapt import methods
from ptapt.corpora import CORPORA

# The schema ships with the package: the CLI fills a stage's defaults from the same file.
SCHEMA = os.path.join(workflow.basedir, "src/ptapt/config.schema.yaml")
validate(config, SCHEMA)

with open(SCHEMA) as schema_file:
    SCHEMA_DEFS = yaml.safe_load(schema_file)["$defs"]

# GPUs a training job holds: one where an NVIDIA driver is installed, none on a CPU-only
# machine (so CPU jobs are not serialised by the profile's GPU limit). profiles/slurm sets it
# explicitly for the compute nodes.
TRAINING_GPUS = 1 if shutil.which("nvidia-smi") else 0


wildcard_constraints:
    dataset=r"[A-Za-z0-9_-]+",
    # An experiment's directory inside results/{dataset}/: empty for the dataset's own recipe,
    # "<name>/" for an entry of the dataset's `experiments`.
    experiment=r"([A-Za-z0-9_-]+/)?",
    fold=r"\d+",
    recipe=r"[A-Za-z0-9_-]+",
    preset=r"[A-Za-z0-9_-]+",


def dataset_config(dataset):
    try:
        return config["datasets"][dataset]
    except KeyError:
        raise WorkflowError(
            f"config: no dataset {dataset!r}; configured: {sorted(config['datasets'])}"
        )


def get_corpus_root(wildcards):
    """The corpus root: generated under resources/synthetic/ for synthetic datasets (shared by
    the datasets with the same layout, preset and seed), else from config."""
    cfg = dataset_config(wildcards.dataset)
    if "synthetic" in cfg:
        synthetic = cfg["synthetic"]
        return f"resources/synthetic/{cfg['corpus']}_{synthetic['preset']}_seed{synthetic['seed']}"
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


def experiment_entry(dataset, experiment):
    """The `experiments` entry of an experiment directory ("" or "<name>/"); {} for the
    dataset's own recipe."""
    name = experiment.rstrip("/")
    if not name:
        return {}
    experiments = dataset_config(dataset)["experiments"]
    if name not in experiments:
        raise WorkflowError(
            f"config: dataset {dataset!r} has no experiment {name!r}; "
            f"configured: {sorted(experiments)}"
        )
    return experiments[name]


def run_recipe(wildcards):
    """The recipe of a rule's dataset and experiment: the dataset's, with the experiment's
    backbone and finetune keys in place of its own."""
    base = recipe(wildcards.dataset)
    entry = experiment_entry(wildcards.dataset, wildcards.get("experiment", ""))
    if not entry:
        return base
    finetune = {**base["finetune"], **entry.get("finetune", {})}
    return {
        **base,
        "backbone": entry.get("backbone", base["backbone"]),
        "finetune": finetune,
    }


def run_setting(wildcards, key):
    """methods or seeds of the dataset, or of its experiment where it sets them."""
    entry = experiment_entry(wildcards.dataset, wildcards.get("experiment", ""))
    return entry.get(key, dataset_config(wildcards.dataset)[key])


def backbone_home(wildcards):
    """The experiment directory whose stage-3 runs serve this one: the
    dataset's own ("") when the backbone is the recipe's, else that of the first experiment
    with the same backbone, so stage 3 runs once per backbone."""
    backbone = run_recipe(wildcards)["backbone"]
    if backbone == recipe(wildcards.dataset)["backbone"]:
        return ""
    for name in dataset_config(wildcards.dataset)["experiments"]:
        other = {"dataset": wildcards.dataset, "experiment": f"{name}/"}
        if run_recipe(Wildcards(other))["backbone"] == backbone:
            return f"{name}/"


class Wildcards(dict):
    """A wildcards object built by hand, for the experiments a rule's own wildcards do not name."""

    __getattr__ = dict.__getitem__


def get_stage_config(stage):
    """Params function: the stage's config section as JSON (a change reruns exactly that
    stage and what depends on it)."""

    def section(wildcards):
        return json.dumps(run_recipe(wildcards)[stage], sort_keys=True)

    return section


def get_backbone_spec(wildcards):
    return json.dumps(run_recipe(wildcards)["backbone"], sort_keys=True)


def get_wav2vec1_input(wildcards):
    """A wav2vec 1.0 checkpoint file is an input (missing -> a clear error); a preset is not."""
    spec = recipe(wildcards.dataset)["stage1"]["wav2vec1"]
    return [] if spec in ("tiny", "large") else spec


# Presets pretrained from scratch by rule pretrain_backbone; the others (no quantizer for the
# contrastive objective) start random-init.
PRETRAINED_PRESETS = ["tiny-wav2vec2"]


def pretrained_here(wildcards):
    """The directory of the backbone pretrained for this run, or None when it loads as is.
    It depends on the recipe and the preset only, so every dataset of a recipe shares it.
    """
    preset = run_recipe(wildcards)["backbone"]["preset"]
    if preset not in PRETRAINED_PRESETS:
        return None
    return f"results/backbones/{dataset_config(wildcards.dataset)['recipe']}/{preset}"


def get_initial_backbone(wildcards):
    """JSON spec of the model V-FT and stage 3 start from: the checkpoint or preset named by
    the recipe, or the backbone rule pretrain_backbone pretrained from scratch."""
    directory = pretrained_here(wildcards)
    if directory is None:
        return get_backbone_spec(wildcards)
    return json.dumps({"source": directory})


def get_initial_backbone_files(wildcards):
    directory = pretrained_here(wildcards)
    if directory is None:
        return []
    return [f"{directory}/config.json", f"{directory}/model.safetensors"]


def get_finetune_config(wildcards):
    """The recipe's finetune section, with the method's own settings on top (the probe's
    frozen mode and layer weights)."""
    section = dict(run_recipe(wildcards)["finetune"])
    section.update(methods.METHODS[wildcards.method].finetune)
    return json.dumps(section, sort_keys=True)


def stage3_dir(wildcards):
    home = backbone_home(wildcards)
    return f"results/{wildcards.dataset}/{home}fold{wildcards.fold}/stage3/{wildcards.method}"


def get_finetune_backbone(wildcards):
    """V-FT and the probe start from the initial backbone, TAPT and P-TAPT from the fold's
    stage 3 of the same backbone."""
    if methods.METHODS[wildcards.method].start == methods.INITIAL:
        return get_initial_backbone(wildcards)
    return json.dumps({"source": stage3_dir(wildcards)})


def get_finetune_backbone_files(wildcards):
    if methods.METHODS[wildcards.method].start == methods.INITIAL:
        return get_initial_backbone_files(wildcards)
    return [
        f"{stage3_dir(wildcards)}/config.json",
        f"{stage3_dir(wildcards)}/model.safetensors",
    ]


def get_finetune_metrics(wildcards):
    """Every run of a dataset or experiment; those of a method without a backbone (logmel)
    are the dataset's own."""
    paths = []
    for method in run_setting(wildcards, "methods"):
        home = wildcards.experiment if methods.has_backbone(method) else ""
        paths += expand(
            "results/{dataset}/{home}fold{fold}/{method}/seed{seed}/metrics.json",
            dataset=wildcards.dataset,
            home=home,
            fold=dataset_config(wildcards.dataset)["folds"],
            method=method,
            seed=run_setting(wildcards, "seeds"),
        )
    return paths


def get_software_env(wildcards):
    """The conda environment file of every rule (used with --sdm conda only)."""
    return f"../../envs/{config['software_env']}.yaml"


def get_backbone_label(wildcards):
    """The run's initial backbone in words: its hub id or directory, or its preset."""
    spec = run_recipe(wildcards)["backbone"]
    return spec["source"] or spec["preset"]


# Figures of the plots job: kind -> the report's subcategory, in the order a reader wants them.
PLOT_KINDS = {
    "summary": "2 UA by fold",
    "confusion": "3 confusion matrices",
    "curves": "4 fine-tuning curves",
    "pretraining": "5 stage 1 and 3 curves",
    "clusters": "6 stage 2 clusters",
}


def report_category(wildcards):
    """A dataset's own results, or its experiment's, as one group of the report."""
    experiment = wildcards.get("experiment", "").rstrip("/")
    return f"{wildcards.dataset} / {experiment}" if experiment else wildcards.dataset


# Tables (rules in tables.smk).

# Only configured set names: a set's file must not look like a dataset's table.
TABLE_SETS = "|".join(map(re.escape, config["tables"])) or "(?!)"


def table_files(stems, ext="md"):
    return [f"results/tables/{stem}.{ext}" for stem in stems]


def reported_tables(stems):
    """The tables' CSVs, marked for the report (it shows a CSV as a table)."""
    paths = table_files(stems, "csv")
    return [report(p, caption=TABLE_CAPTION, category="tables") for p in paths]


TABLE_CAPTION = "../report/tables.rst"


def table_set(name):
    try:
        return config["tables"][name]
    except KeyError:
        raise WorkflowError(
            f"config: no table set {name!r} in `tables`; configured: {sorted(config['tables'])}"
        )


def get_set_tables(wildcards):
    """The .md files of a table set, in the paper's order."""
    chosen = table_set(wildcards.set)
    stems = [f"{d}_{t}" for d in chosen["by_fold"] for t in ("by_fold", "methods")]
    stems += [f"domain_shift_{wildcards.set}"] if chosen["domain_shift"] else []
    stems += [f"data_efficiency_{s}" for s in chosen["data_efficiency"]]
    stems += [f"{d}_experiments" for d in chosen["experiments"]]
    return table_files(stems)


def get_efficiency_members(wildcards):
    for chosen in config["tables"].values():
        if wildcards.study in chosen["data_efficiency"]:
            return chosen["data_efficiency"][wildcards.study]
    raise WorkflowError(
        f"config: no data_efficiency {wildcards.study!r} in any table set"
    )


def get_experiment_runs(wildcards):
    """The runs.csv of a dataset's recipe and of each of its experiments."""
    experiments = dataset_config(wildcards.dataset)["experiments"]
    if not experiments:
        raise WorkflowError(
            f"config: datasets.{wildcards.dataset}.experiments is empty"
        )
    names = ["", *(f"{name}/" for name in experiments)]
    return [f"results/{wildcards.dataset}/{name}runs.csv" for name in names]


def get_reference_audio(wildcards):
    return config["reference_audio"] or "resources/generic_reference"


def shift_models(wildcards):
    """(fold, method) of each fold's TAPT and P-TAPT backbone of the dataset's recipe."""
    cfg = dataset_config(wildcards.dataset)
    continued = [m for m in methods.names(methods.CONTINUED) if m in cfg["methods"]]
    return [(fold, method) for fold in cfg["folds"] for method in continued]


def get_shift_models(wildcards):
    """--fold-model arguments of the domain_shift job."""
    d = wildcards.dataset
    return " ".join(
        f"--fold-model results/{d}/folds/fold{f}.json {m} results/{d}/fold{f}/stage3/{m}"
        for f, m in shift_models(wildcards)
    )


def get_shift_model_files(wildcards):
    d = wildcards.dataset
    return [
        f"results/{d}/fold{f}/stage3/{m}/model.safetensors"
        for f, m in shift_models(wildcards)
    ]


def check_experiment_finetune():
    """An experiment's finetune keys, merged into its recipe's, must be a valid finetune
    section: caught here, before any job starts."""
    finetune = {"$ref": "#/$defs/finetune", "$defs": SCHEMA_DEFS}
    for dataset, cfg in config["datasets"].items():
        for name, entry in cfg["experiments"].items():
            run = Wildcards(dataset=dataset, experiment=f"{name}/")
            try:
                jsonschema.validate(run_recipe(run)["finetune"], finetune)
            except jsonschema.ValidationError as err:
                raise WorkflowError(
                    f"config: datasets.{dataset}.experiments.{name}.finetune: {err.message}"
                ) from None


check_experiment_finetune()
