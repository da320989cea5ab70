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


# One rule per stage-3 method of the registry (rules tapt, ptapt), all from this definition.
for stage3_method in methods.names(methods.CONTINUED):
    entry = methods.METHODS[stage3_method]

    rule:
        name:
            stage3_method
        input:
            manifest="results/{dataset}/manifest.tsv",
            fold="results/{dataset}/folds/fold{fold}.json",
            labels=(
                ["results/{dataset}/fold{fold}/stage2/pseudo_labels.npz"]
                if entry.pseudo_labels
                else []
            ),
            backbone=get_initial_backbone_files,
        output:
            expand(
                "results/{{dataset}}/{{experiment}}fold{{fold}}/stage3/{method}/{file}",
                method=stage3_method,
                file=PRETRAINED,
            ),
        log:
            f"logs/{{dataset}}/{{experiment}}fold{{fold}}/{stage3_method}.log",
        conda:
            get_software_env
        threads: 2
        resources:
            gpu=TRAINING_GPUS,
        params:
            method=stage3_method,  # a value: the shell line is formatted when the job runs
            stage=get_stage_config(stage3_method),
            backbone=get_initial_backbone,
            labels=lambda wildcards, input: (
                f" --pseudo-labels {input.labels}" if input.labels else ""
            ),
            keep_head=" --keep-pretraining-head" if entry.keep_pretraining_head else "",
            out_dir=get_output_dir,
            work_dir=f"checkpoints/{{dataset}}/{{experiment}}fold{{fold}}/{stage3_method}",
        message:
            f"stage 3, {entry.title}: {{wildcards.dataset}} {{wildcards.experiment}}fold {{wildcards.fold}}"
        shell:
            "python -m ptapt stage3 --method {params.method} --manifest {input.manifest}"
            " --fold {input.fold}{params.labels} --backbone {params.backbone:q}{params.keep_head}"
            " --config {params.stage:q} --out-dir {params.out_dir} --work-dir {params.work_dir}"
            " --threads {threads} > {log} 2>&1"
