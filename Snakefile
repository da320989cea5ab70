# ptapt: task-adaptive pretraining of wav2vec 2.0 for speech emotion recognition.
#   snakemake --cores 8 results/iemocap/ptapt_summary.csv
# Logic lives in the ptapt package (src/ptapt); rules call its command line.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# Rules run `python -m ptapt` from this checkout, in the project's venv or in a conda
# environment of envs/ (which holds the dependencies; Snakemake clears PYTHONPATH there).
shell.prefix(f'export PYTHONPATH="{workflow.basedir}/src"; ')


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/stage1.smk"
include: "workflow/rules/stage2.smk"
include: "workflow/rules/stage3.smk"
include: "workflow/rules/stage4.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        expand(
            "results/{dataset}/ptapt_summary.csv", dataset=config["default_datasets"]
        ),
