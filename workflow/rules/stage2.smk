# Stage 2: frame features of the stage-1 model and faiss k-means pseudo-labels, per fold.


rule stage2:
    input:
        manifest="results/{dataset}/manifest.tsv",
        fold="results/{dataset}/folds/fold{fold}.json",
        model="results/{dataset}/fold{fold}/stage1/model.safetensors",
        config="results/{dataset}/fold{fold}/stage1/config.json",
    output:
        labels="results/{dataset}/fold{fold}/stage2/pseudo_labels.npz",
        report="results/{dataset}/fold{fold}/stage2/cluster_report.json",
    log:
        "logs/{dataset}/fold{fold}/stage2.log",
    conda:
        get_software_env
    threads: 4
    params:
        stage=get_stage_config("stage2"),
        stage1_dir=lambda wildcards, input: os.path.dirname(input.model),
        out_dir=get_output_dir,
    message:
        "stage 2, k-means pseudo-labels: {wildcards.dataset} fold {wildcards.fold}"
    shell:
        "python -m ptapt stage2 --manifest {input.manifest} --fold {input.fold}"
        " --stage1 {params.stage1_dir} --config {params.stage:q}"
        " --out-dir {params.out_dir} --threads {threads} > {log} 2>&1"
