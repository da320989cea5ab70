# Corpus preparation: synthetic corpus, manifest, fold files.


rule synth_corpus:
    output:
        directory("resources/{dataset}/corpus"),
    log:
        "logs/{dataset}/synth_corpus.log",
    conda:
        get_software_env
    threads: 2
    params:
        synthetic=get_synthetic_config,
    shell:
        "python -m ptapt synth-corpus --out {output} --preset {params.synthetic[preset]}"
        " --seed {params.synthetic[seed]} --jobs {threads} > {log} 2>&1"


rule manifest:
    input:
        get_corpus_input,
    output:
        "results/{dataset}/manifest.tsv",
    log:
        "logs/{dataset}/manifest.log",
    conda:
        get_software_env
    params:
        corpus=lambda wildcards: dataset_config(wildcards.dataset)["corpus"],
        root=get_corpus_root,
        count_check=get_count_check_flag,
    shell:
        "python -m ptapt manifest --corpus {params.corpus} --root {params.root} --out {output}"
        " {params.count_check} > {log} 2>&1"


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
    shell:
        "python -m ptapt folds --manifest {input} --out-dir {params.out_dir} --fold {wildcards.fold}"
        " --scheme {params.split[scheme]} --valid-share {params.split[valid_share]}"
        " --seed {params.split[seed]} > {log} 2>&1"
