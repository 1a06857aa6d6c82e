"""python -m cifar_sweep [overrides]: the command (cifar_sweep/cli.py)."""

from cifar_sweep.cli import main

main()
