# Two commands set everything up on a fresh machine:
#   make demo   create .venv if missing, train a narrow VGG16 for 3 epochs on real CIFAR-10
#   make test   create .venv if missing, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# the real arrays beside this checkout if present, else data/cifar10 (downloaded on first use)
CIFAR10_DIR ?= $(if $(wildcard ../shared/data/cifar10/train.npz),../shared/data/cifar10,data/cifar10)

.PHONY: demo test venv
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[test,postgres]"
	touch $@

demo: venv
	$(PY) run.py model.width=0.125 trainer.epochs=3 data.dir=$(CIFAR10_DIR) data.download=true

test: venv
	$(PY) -m pytest -q
