"""The command: `cifar-sweep [overrides]` once installed, `python -m cifar_sweep`, or `python run.py` in a
checkout. Hydra composes the packaged cifar_sweep/conf/ (plus `--config-dir` for your own groups) and runs
one job per configuration; outputs/ and multirun/ are written in the folder it runs from, and packages
of yours in that folder import as they do with `python -m`.

    cifar-sweep data=folder data.dir=my_images model.width=0.125
    cifar-sweep -m --config-dir my_conf model=my_net seed=0,1,2
    cifar-sweep collect multirun/<name>/<time>      the tables (= cifar-sweep-collect, python -m cifar_sweep.collect)
    cifar-sweep report --sweeps ...                 the study's report (= cifar-sweep-report)
    cifar-sweep decide claims=NAME ...              claims decided with the seeds they need (cifar_sweep/decide.py)

What a job does, from its config to its return value, is cifar_sweep/task.py.
"""

from __future__ import annotations

import os
import sys

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from cifar_sweep import TRUSTED_TARGETS, exits, task


@hydra.main(config_path="conf", config_name="config", execution_whitelist=TRUSTED_TARGETS)
def app(cfg: DictConfig) -> float | optuna.TrialPruned:
    return task.execute(cfg, HydraConfig.get())


def main() -> None:
    """Run the Hydra app on the command line's arguments; `collect`, `report` and `decide` run those tools."""
    if os.getcwd() not in sys.path:  # your packages beside your configs, as `python -m` finds them
        sys.path.insert(0, os.getcwd())
    if len(sys.argv) > 1 and sys.argv[1] in ("collect", "report", "decide"):
        from cifar_sweep import collect, decide, report

        tool = {"collect": collect.main, "report": report.main, "decide": decide.main}[sys.argv[1]]
        sys.exit(tool(sys.argv[2:]))
    with exits.command_exits():  # Hydra's refusals exit 2 like ours; Ctrl-C and SIGTERM end in one line
        app()
