# Reports: the leakage guard, runs.csv and ptapt_summary.csv, the paper-shaped tables.


rule check_leakage:
    input:
        get_finetune_metrics,
    output:
        "results/{dataset}/leakage_check.txt",
    log:
        "logs/{dataset}/check_leakage.log",
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt check-leakage --results results/{wildcards.dataset} --out {output}"
        " > {log} 2>&1"


rule summarize:
    input:
        metrics=get_finetune_metrics,
        leakage="results/{dataset}/leakage_check.txt",
    output:
        runs="results/{dataset}/runs.csv",
        summary="results/{dataset}/ptapt_summary.csv",
        significance="results/{dataset}/significance.csv",
    log:
        "logs/{dataset}/summarize.log",
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt summarize --runs {output.runs} --summary {output.summary}"
        " --significance {output.significance} {input.metrics}"
        " > {log} 2>&1"


rule tables:
    input:
        expand(
            "results/{dataset}/ptapt_summary.csv", dataset=config["default_datasets"]
        ),
    output:
        directory("results/tables"),
    log:
        "logs/tables.log",
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt tables --results results --out {output} > {log} 2>&1"
