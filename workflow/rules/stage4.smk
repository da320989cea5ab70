# Stage 4: utterance-level fine-tuning and testing per dataset (and experiment), fold, method and
# seed; logmel, with no backbone, once per dataset.

FINETUNED_FILES = [
    "metrics.json",
    "predictions.tsv",
    "train_ids.txt",
    "curve.csv",
    "model/config.json",
    "model/model.safetensors",
    "model/head.safetensors",
    "model/classifier.json",
]


rule finetune:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
        backbone=get_finetune_backbone_files,
    output:
        expand(
            "results/{{dataset}}/{{experiment}}fold{{fold}}/{{method}}/seed{{seed}}/{file}",
            file=FINETUNED_FILES,
        ),
    log:
        "logs/{dataset}/{experiment}fold{fold}/{method}/seed{seed}.log",
    wildcard_constraints:
        method="|".join(methods.fine_tuned()),
        seed=r"\d+",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_finetune_config,
        backbone=get_finetune_backbone,
        labels=get_labels,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/{experiment}fold{fold}/{method}/seed{seed}",
    message:
        "stage 4, {wildcards.method}: {wildcards.dataset} {wildcards.experiment}fold {wildcards.fold} seed {wildcards.seed}"
    shell:
        "python -m ptapt finetune --manifest {input.manifest} --fold {input.fold}"
        " --backbone {params.backbone:q} --method {wildcards.method} --seed {wildcards.seed}"
        " --config {params.stage:q} --labels {params.labels} --out-dir {params.out_dir}"
        " --work-dir {params.work_dir} --threads {threads} > {log} 2>&1"


rule logmel:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
    output:
        expand(
            "results/{{dataset}}/fold{{fold}}/logmel/seed{{seed}}/{file}",
            file=["metrics.json", "predictions.tsv", "train_ids.txt"],
        ),
    log:
        "logs/{dataset}/fold{fold}/logmel/seed{seed}.log",
    wildcard_constraints:
        seed=r"\d+",
    conda:
        get_software_env
    threads: 1
    params:
        stage=get_stage_config("logmel"),
        labels=get_labels,
        out_dir=get_output_dir,
    message:
        "log-mel baseline: {wildcards.dataset} fold {wildcards.fold} seed {wildcards.seed}"
    shell:
        "python -m ptapt logmel --manifest {input.manifest} --fold {input.fold}"
        " --seed {wildcards.seed} --config {params.stage:q} --labels {params.labels}"
        " --out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
