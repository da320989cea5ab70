# Stage 3: continued pretraining per fold (TAPT, P-TAPT), once per backbone (an experiment with
# the dataset's backbone uses the dataset's: backbone_home); and the pretraining from scratch of a
# preset backbone, once per recipe and preset.

PRETRAINED = [
    "config.json",
    "model.safetensors",
    "metrics.json",
    "train_ids.txt",
    "curve.csv",
]


rule synth_generic_corpus:
    output:
        directory("resources/generic"),
    log:
        "logs/synth_generic_corpus.log",
    conda:
        get_software_env
    threads: 2
    message:
        "synthetic read speech for the demo backbone"
    shell:
        "python -m ptapt synth-corpus --out {output} --preset generic --seed 0 --jobs {threads}"
        " > {log} 2>&1"


rule pretrain_backbone:
    input:
        "resources/generic",
    output:
        expand("results/backbones/{{recipe}}/{{preset}}/{file}", file=PRETRAINED),
    log:
        "logs/backbones/{recipe}/{preset}.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=lambda wildcards: json.dumps(
            config["recipes"][wildcards.recipe]["backbone_pretraining"], sort_keys=True
        ),
        backbone=lambda wildcards: json.dumps({"preset": wildcards.preset}),
        out_dir=get_output_dir,
        work_dir="checkpoints/backbones/{recipe}/{preset}",
    message:
        "pretraining backbone {wildcards.preset} of recipe {wildcards.recipe} from scratch"
    shell:
        "python -m ptapt stage3 --method tapt --audio-dir {input} --backbone {params.backbone:q}"
        " --keep-pretraining-head --config {params.stage:q} --out-dir {params.out_dir}"
        " --work-dir {params.work_dir} --threads {threads} > {log} 2>&1"


rule tapt:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
        backbone=get_initial_backbone_files,
    output:
        expand(
            "results/{{dataset}}/{{experiment}}fold{{fold}}/stage3/tapt/{file}",
            file=PRETRAINED,
        ),
    log:
        "logs/{dataset}/{experiment}fold{fold}/tapt.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_stage_config("tapt"),
        backbone=get_initial_backbone,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/{experiment}fold{fold}/tapt",
    message:
        "stage 3, TAPT: {wildcards.dataset} {wildcards.experiment}fold {wildcards.fold}"
    shell:
        "python -m ptapt stage3 --method tapt --manifest {input.manifest} --fold {input.fold}"
        " --backbone {params.backbone:q} --keep-pretraining-head --config {params.stage:q}"
        " --out-dir {params.out_dir} --work-dir {params.work_dir} --threads {threads}"
        " > {log} 2>&1"


rule ptapt:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
        labels="results/{dataset}/fold{fold}/stage2/pseudo_labels.npz",
        backbone=get_initial_backbone_files,
    output:
        expand(
            "results/{{dataset}}/{{experiment}}fold{{fold}}/stage3/ptapt/{file}",
            file=PRETRAINED,
        ),
    log:
        "logs/{dataset}/{experiment}fold{fold}/ptapt.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_stage_config("ptapt"),
        backbone=get_initial_backbone,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/{experiment}fold{fold}/ptapt",
    message:
        "stage 3, P-TAPT: {wildcards.dataset} {wildcards.experiment}fold {wildcards.fold}"
    shell:
        "python -m ptapt stage3 --method ptapt --manifest {input.manifest} --fold {input.fold}"
        " --pseudo-labels {input.labels} --backbone {params.backbone:q}"
        " --config {params.stage:q} --out-dir {params.out_dir} --work-dir {params.work_dir}"
        " --threads {threads} > {log} 2>&1"
