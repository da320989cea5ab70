# Corpus preparation: synthetic corpora (one per layout, preset and seed, shared by every dataset
# that asks for it), manifest, fold files.


rule synth_corpus:
    output:
        directory("resources/synthetic/{layout}_{preset}_seed{seed}"),
    log:
        "logs/synthetic/{layout}_{preset}_seed{seed}.log",
    wildcard_constraints:
        layout=r"[a-z]+",
        preset=r"[a-z]+",
        seed=r"\d+",
    conda:
        get_software_env
    threads: 2
    message:
        "synthetic {wildcards.layout} corpus ({wildcards.preset}, seed {wildcards.seed})"
    shell:
        "python -m ptapt synth-corpus --out {output} --preset {wildcards.preset}"
        " --layout {wildcards.layout} --seed {wildcards.seed} --jobs {threads} > {log} 2>&1"


rule manifest:
    input:
        get_manifest_inputs,
    output:
        "results/{dataset}/manifest.tsv",
    log:
        "logs/{dataset}/manifest.log",
    conda:
        get_software_env
    params:
        source=get_manifest_source,
        labels=get_label_options,
    message:
        "manifest of {wildcards.dataset}"
    shell:
        "python -m ptapt {params.source} --out {output} {params.labels} > {log} 2>&1"


rule folds:
    input:
        "results/{dataset}/manifest.tsv",
    output:
        "results/{dataset}/folds/fold{fold}.json",
    log:
        "logs/{dataset}/folds/fold{fold}.log",
    conda:
        get_software_env
    params:
        split=get_split_config,
        out_dir=get_output_dir,
    message:
        "fold {wildcards.fold} of {wildcards.dataset}"
    shell:
        "python -m ptapt folds --manifest {input} --out-dir {params.out_dir} --fold {wildcards.fold}"
        " --split {params.split:q} > {log} 2>&1"
