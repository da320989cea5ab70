# Reports: the leakage guard, runs.csv and ptapt_summary.csv.


rule check_leakage:
    input:
        get_finetune_metrics,
    output:
        "results/{dataset}/{experiment}leakage_check.txt",
    log:
        "logs/{dataset}/{experiment}check_leakage.log",
    localrule: True
    conda:
        get_software_env
    shell:
        "python -m ptapt check-leakage --results results/{wildcards.dataset} --out {output}"
        " > {log} 2>&1"


rule summarize:
    input:
        metrics=get_finetune_metrics,
        leakage="results/{dataset}/{experiment}leakage_check.txt",
    output:
        runs="results/{dataset}/{experiment}runs.csv",
        summary="results/{dataset}/{experiment}ptapt_summary.csv",
        significance="results/{dataset}/{experiment}significance.csv",
    log:
        "logs/{dataset}/{experiment}summarize.log",
    localrule: True
    conda:
        get_software_env
    params:
        backbone=get_backbone_label,
    shell:
        "python -m ptapt summarize --runs {output.runs} --summary {output.summary}"
        " --significance {output.significance} --backbone {params.backbone:q} {input.metrics}"
        " > {log} 2>&1"
