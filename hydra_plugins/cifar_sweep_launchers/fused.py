"""hydra/launcher=fused: a sweep's jobs of one shape train as one fused model in one process
(cifar_sweep/fusion.py; docs/fusion.md). Jobs that fit no group run one by one, as with the basic
launcher. It runs cifar-sweep's jobs (cifar_sweep.job), not other apps'."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class FusedLauncherConf:
    _target_: str = "hydra_plugins.cifar_sweep_launchers.fused.FusedLauncher"
    max_fused: int = 8  # jobs per fused group at most


ConfigStore.instance().store(group="hydra/launcher", name="fused", node=FusedLauncherConf, provider="cifar_sweep")


class FusedLauncher(Launcher):
    def __init__(self, max_fused: int = 8) -> None:
        if max_fused < 1:  # a user's mistake: one line, exit 2
            print(f"error: hydra.launcher.max_fused={max_fused}: must be an integer >= 1", file=sys.stderr, flush=True)
            sys.exit(2)
        self.max_fused = max_fused

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from cifar_sweep import fused_jobs  # torch: only when a sweep runs

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose,
                      execution_whitelist=self.hydra_context.execution_whitelist)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = {}
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id, config.hydra.job.num = str(idx), idx
            configs[idx] = config
        returns = {}
        for group in fused_jobs.groups(configs, self.max_fused):
            if len(group) == 1:
                (idx,) = group
                returns[idx] = run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                       config=configs[idx], job_dir_key="hydra.sweep.dir",
                                       job_subdir_key="hydra.sweep.subdir")
            else:
                log.info(f"training jobs {', '.join(f'#{i}' for i in group)} as one fused model")
                returns.update(fused_jobs.run_group({idx: configs[idx] for idx in group}))
        return [returns[idx] for idx in sorted(returns)]
