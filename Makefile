# Two entry points, each self-sufficient on a fresh clone:
#   make demo   create .venv, install, run the pipeline on the synthetic corpus
#   make test   create .venv, install, run the test suite
#   make demo-tables   every table of the paper on synthetic stand-ins (results/tables/demo.md)
#   make test-slurm   the reduced demo through profiles/slurm on a local one-node SLURM cluster
#   make demo-backbone   pretrain the demo backbone from scratch (hours; resumes)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
# torch is pinned to the CPU build for every pip step, build isolation included. pip compiles
# every module at install: with PYTHONDONTWRITEBYTECODE set, nothing compiled later is kept.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: demo demo-tables demo-backbone test test-slurm install lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,slurm]'
	touch $@

# Single-threaded training jobs, two at a time: faster than one two-threaded job for tiny models.
# The backbone's pretraining too: on two threads it is only 1.4x faster, and on one the other
# core meanwhile runs stages 1 and 2 of every fold, which do not wait for it.
DEMO_THREADS := stage1=1 stage2=1 tapt=1 ptapt=1 finetune=1 pretrain_backbone=1

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --set-threads $(DEMO_THREADS)
	@cat logs/demo/summarize.log

demo-tables: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake results/tables/demo.md --cores $(CORES) \
		--set-threads $(DEMO_THREADS)
	@cat results/tables/demo.md

# The demo backbone (backbones/demo-wav2vec2, README "The demo backbone"): pretrained from
# scratch on 5 hours of synthetic read speech, hours of CPU. It checkpoints every 200 steps
# into DEMO_BACKBONE_WORK: the same command resumes exactly where an interrupted run stopped.
DEMO_BACKBONE_WORK ?= $(HOME)/.cache/ptapt/demo-backbone
DEMO_BACKBONE_THREADS ?= 1
demo-backbone: install
	test -d $(DEMO_BACKBONE_WORK)/read-speech || $(BIN)/python -m ptapt synth-corpus \
		--out $(DEMO_BACKBONE_WORK)/read-speech --preset read-speech --seed 0 --jobs $(CORES)
	$(BIN)/python -m ptapt pretrain-backbone --recipe backbones/demo-wav2vec2.recipe.json \
		--audio-dir $(DEMO_BACKBONE_WORK)/read-speech --out-dir backbones/demo-wav2vec2 \
		--work-dir $(DEMO_BACKBONE_WORK)/train --threads $(DEMO_BACKBONE_THREADS)

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

test-slurm: install
	PYTHON=$(CURDIR)/$(BIN)/python bash tests/slurm/run.sh

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) .snakemake results resources logs
