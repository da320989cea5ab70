# Stage 3: continued pretraining per fold (TAPT, P-TAPT), and the demo backbone's pretraining.

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
    shell:
        "python -m ptapt synth-corpus --out {output} --preset generic --seed 0 --jobs {threads}"
        " > {log} 2>&1"


rule pretrain_backbone:
    input:
        "resources/generic",
    output:
        expand("results/{{dataset}}/backbone/{file}", file=PRETRAINED),
    log:
        "logs/{dataset}/pretrain_backbone.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_stage_config("backbone_pretraining"),
        backbone=get_backbone_spec,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/backbone",
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
        expand("results/{{dataset}}/fold{{fold}}/stage3/tapt/{file}", file=PRETRAINED),
    log:
        "logs/{dataset}/fold{fold}/tapt.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_stage_config("tapt"),
        backbone=get_initial_backbone,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/fold{fold}/tapt",
    shell:
        "python -m ptapt stage3 --method tapt --manifest {input.manifest} --fold {input.fold}"
        " --backbone {params.backbone:q} --config {params.stage:q} --out-dir {params.out_dir}"
        " --work-dir {params.work_dir} --threads {threads} > {log} 2>&1"


rule ptapt:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
        labels="results/{dataset}/fold{fold}/stage2/pseudo_labels.npz",
        backbone=get_initial_backbone_files,
    output:
        expand("results/{{dataset}}/fold{{fold}}/stage3/ptapt/{file}", file=PRETRAINED),
    log:
        "logs/{dataset}/fold{fold}/ptapt.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_stage_config("ptapt"),
        backbone=get_initial_backbone,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/fold{fold}/ptapt",
    shell:
        "python -m ptapt stage3 --method ptapt --manifest {input.manifest} --fold {input.fold}"
        " --pseudo-labels {input.labels} --backbone {params.backbone:q}"
        " --config {params.stage:q} --out-dir {params.out_dir} --work-dir {params.work_dir}"
        " --threads {threads} > {log} 2>&1"
