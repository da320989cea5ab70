# ptapt: task-adaptive pretraining of wav2vec 2.0 for speech emotion recognition.
#   snakemake --cores 8 results/iemocap/ptapt_summary.csv
# Logic lives in the ptapt package (src/ptapt); rules call its command line.

import os
import sys

from snakemake.utils import min_version
from snakemake_interface_executor_plugins.settings import DeploymentMethod

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


# Rules run `python -m ptapt` from this checkout (Snakemake clears PYTHONPATH in conda
# environments, so it is set here). Under --sdm conda, `python` is the environment's of envs/;
# otherwise it is the interpreter running Snakemake, so the project's venv serves its rules even
# when it was never activated.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    shell.prefix(f'export PYTHONPATH="{workflow.basedir}/src"; ')
else:
    shell.prefix(
        f'export PATH="{os.path.dirname(sys.executable)}:$PATH"; '
        f'export PYTHONPATH="{workflow.basedir}/src"; '
    )


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/stage1.smk"
include: "workflow/rules/stage2.smk"
include: "workflow/rules/stage3.smk"
include: "workflow/rules/stage4.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/tables.smk"


rule all:
    default_target: True
    input:
        expand(
            "results/{dataset}/{file}",
            dataset=config["default_datasets"],
            file=["ptapt_summary.csv", "plots/summary"],
        ),
