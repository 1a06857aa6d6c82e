# A fresh machine needs only python3 and make:
#   make demo       create .venv if missing, train a narrow VGG16 for 3 epochs on CIFAR-10 ($CIFAR10_DIR)
#   make test       the fast tier: unit tests and the README commands' end-to-end tests (docs/timings.md)
#   make test-all   every test: all end-to-end runs, PostgreSQL and Slurm where installed (what CI runs)
#   make lint       ruff (lint + format check) and mypy
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LINTED := cifar_sweep hydra_plugins plugins/optuna_pruning_sweeper run.py tests bench scripts

.PHONY: demo test test-all lint venv
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml plugins/optuna_pruning_sweeper/pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/constraints.txt -e plugins/optuna_pruning_sweeper \
	  -e ".[test,lint,postgres,tensorboard,mlflow,wandb,dashboard,timm]"
	touch $@

# data: $CIFAR10_DIR if set (train.npz/test.npz or cifar-10-batches-py/), else data/cifar10, downloaded if missing
demo: venv
	$(PY) run.py model.width=0.125 trainer.epochs=3 data.download=true

test: venv
	$(PY) -m pytest -q -m "not e2e or readme"

test-all: venv
	$(PY) -m pytest -q --durations=15

lint: venv
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy
