# The paper's tables and the seed studies', each a target of its own; a set of them (config
# `tables`) is built and joined by `snakemake results/tables/<set>.md`.


rule table_set:
    input:
        get_set_tables,
    output:
        "results/tables/{set}.md",
    log:
        "logs/tables/{set}.log",
    wildcard_constraints:
        set=TABLE_SETS,
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt join-tables --out {output} {input} > {log} 2>&1"


rule dataset_tables:
    input:
        "results/{dataset}/runs.csv",
    output:
        table_files(["{dataset}_by_fold", "{dataset}_methods"], "md"),
        reported_tables(["{dataset}_by_fold", "{dataset}_methods"]),
    log:
        "logs/tables/{dataset}.log",
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt tables --dataset {wildcards.dataset} > {log} 2>&1"


rule experiment_tables:
    input:
        get_experiment_runs,
    output:
        table_files(["{dataset}_experiments"], "md"),
        reported_tables(["{dataset}_experiments"]),
    log:
        "logs/tables/{dataset}_experiments.log",
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt tables --experiments {wildcards.dataset} > {log} 2>&1"


rule data_efficiency_table:
    input:
        lambda wildcards: expand(
            "results/{member}/runs.csv", member=get_efficiency_members(wildcards)
        ),
    output:
        table_files(["data_efficiency_{study}"], "md"),
        reported_tables(["data_efficiency_{study}"]),
        report(
            "results/tables/data_efficiency_{study}_curve.png",
            caption="../report/efficiency.rst",
            category="tables",
        ),
        "results/tables/data_efficiency_{study}_curve.csv",
    log:
        "logs/tables/data_efficiency_{study}.log",
    localrule: True
    conda:
        get_software_env
    params:
        members=lambda wildcards: ",".join(get_efficiency_members(wildcards)),
    shell:
        "python -m ptapt tables --data-efficiency {wildcards.study}={params.members}"
        " > {log} 2>&1"


rule synth_reference_corpus:
    output:
        directory("resources/generic_reference"),
    log:
        "logs/synth_reference_corpus.log",
    conda:
        get_software_env
    threads: 2
    message:
        "synthetic reference read speech"
    shell:
        "python -m ptapt synth-corpus --out {output} --preset generic --seed 1 --jobs {threads}"
        " > {log} 2>&1"


rule domain_shift:
    input:
        manifest="results/{dataset}/manifest.tsv",
        folds=lambda wildcards: expand(
            "results/{{dataset}}/folds/fold{fold}.json",
            fold=dataset_config(wildcards.dataset)["folds"],
        ),
        backbone=get_initial_backbone_files,
        models=get_shift_model_files,
        reference=get_reference_audio,
    output:
        "results/{dataset}/domain_shift.csv",
    log:
        "logs/{dataset}/domain_shift.log",
    conda:
        get_software_env
    threads: 2
    resources:
        gpu=TRAINING_GPUS,
    params:
        initial=get_initial_backbone,
        models=get_shift_models,
        stage=get_stage_config("tapt"),
    message:
        "domain shift (pretraining loss) on {wildcards.dataset}"
    shell:
        "python -m ptapt domain-shift --dataset {wildcards.dataset} --manifest {input.manifest}"
        " --initial {params.initial:q} --reference {input.reference} --folds {input.folds}"
        " {params.models} --config {params.stage:q} --out {output} --threads {threads}"
        " > {log} 2>&1"


rule domain_shift_table:
    input:
        lambda wildcards: expand(
            "results/{dataset}/domain_shift.csv",
            dataset=table_set(wildcards.set)["domain_shift"],
        ),
    output:
        table_files(["domain_shift_{set}"], "md"),
        reported_tables(["domain_shift_{set}"]),
    log:
        "logs/tables/domain_shift_{set}.log",
    wildcard_constraints:
        set=TABLE_SETS,
    localrule: True
    conda:
        get_software_env
    params:
        datasets=lambda wildcards: " ".join(table_set(wildcards.set)["domain_shift"]),
    shell:
        "python -m ptapt tables --domain-shift {params.datasets} --name {wildcards.set}"
        " > {log} 2>&1"
