# Stage 1: frame-level wav2vec 1.0 emotion model, per fold, on the fold's training utterances.


rule stage1:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
        wav2vec1=get_wav2vec1_input,
    output:
        model="results/{dataset}/fold{fold}/stage1/model.safetensors",
        config="results/{dataset}/fold{fold}/stage1/config.json",
        metrics="results/{dataset}/fold{fold}/stage1/metrics.json",
        train_ids="results/{dataset}/fold{fold}/stage1/train_ids.txt",
        curve="results/{dataset}/fold{fold}/stage1/curve.csv",
    log:
        "logs/{dataset}/fold{fold}/stage1.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        stage=get_stage_config("stage1"),
        backbone=get_backbone_spec,
        labels=get_labels,
        out_dir=get_output_dir,
        work_dir="checkpoints/{dataset}/fold{fold}/stage1",
    message:
        "stage 1, frame emotion model: {wildcards.dataset} fold {wildcards.fold}"
    shell:
        "python -m ptapt stage1 --manifest {input.manifest} --fold {input.fold}"
        " --config {params.stage:q} --backbone {params.backbone:q} --labels {params.labels}"
        " --out-dir {params.out_dir} --work-dir {params.work_dir} --threads {threads}"
        " > {log} 2>&1"
