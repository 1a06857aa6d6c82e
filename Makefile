# Two commands set everything up on a fresh machine:
#   make demo   create .venv if missing, train a narrow VGG16 for 3 epochs on CIFAR-10 ($CIFAR10_DIR)
#   make test   create .venv if missing, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test venv
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml plugins/optuna_pruning_sweeper/pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/constraints.txt -e plugins/optuna_pruning_sweeper \
	  -e ".[test,postgres,tensorboard,mlflow,dashboard]"
	touch $@

# data: $CIFAR10_DIR if set (train.npz/test.npz or cifar-10-batches-py/), else data/cifar10, downloaded if missing
demo: venv
	$(PY) run.py model.width=0.125 trainer.epochs=3 data.download=true

test: venv
	$(PY) -m pytest -q
