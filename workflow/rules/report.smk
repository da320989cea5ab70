# Reports: the leakage guard, runs.csv, ptapt_summary.csv and the figures, marked for
# `snakemake --report results/report.html` (captions in workflow/report/).


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
        runs=report(
            "results/{dataset}/{experiment}runs.csv",
            caption="../report/runs.rst",
            category=report_category,
            subcategory="1 summary",
        ),
        summary=report(
            "results/{dataset}/{experiment}ptapt_summary.csv",
            caption="../report/summary.rst",
            category=report_category,
            subcategory="1 summary",
        ),
        significance=report(
            "results/{dataset}/{experiment}significance.csv",
            caption="../report/significance.rst",
            category=report_category,
            subcategory="1 summary",
        ),
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


rule plots:
    input:
        "results/{dataset}/{experiment}runs.csv",
    output:
        [
            report(
                directory(f"results/{{dataset}}/{{experiment}}plots/{kind}"),
                patterns=["{name}.png"],
                caption=f"../report/plots_{kind}.rst",
                category=report_category,
                subcategory=subcategory,
                labels={"figure": "{name}"},
            )
            for kind, subcategory in PLOT_KINDS.items()
        ],
    log:
        "logs/{dataset}/{experiment}plots.log",
    localrule: True
    conda:
        get_software_env
    params:
        results=lambda wildcards: f"results/{wildcards.dataset}/{wildcards.experiment}",
        out="results/{dataset}/{experiment}plots",
    message:
        "figures of {wildcards.dataset} {wildcards.experiment}"
    shell:
        "python -m ptapt plots --results {params.results} --out {params.out} > {log} 2>&1"
