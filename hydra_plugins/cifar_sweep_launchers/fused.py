"""hydra/launcher=fused: a sweep's jobs of one shape train as one fused model in one process
(cifar_sweep/fusion.py; docs/fusion.md). Jobs that fit no group run one by one, as with the basic
launcher.

Jobs fuse when they share a shape (SHAPE): model (name, width), batch size, epochs, data and its
split, precision, device and the trainer's compute settings. They may differ in everything else:
seed, optimizer and its arguments (its type included), scheduler, weight decay, dropout,
augmentation, patience. Every job goes through Hydra's own `run_job` (its output directory and
`.hydra/` files, `env_set`, the job callbacks, its return value), in a thread of its own; the job
takes its place in the group (cifar_sweep.fusion.take_seat) and only the training epochs meet. Each
job's log records go to its own log file (Hydra's `run.log`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

log = logging.getLogger(__name__)

SHAPE = (
    "model._target_",
    "model.name",
    "model.width",
    "model.num_classes",
    "model.in_channels",
    "batch_size",
    "trainer.epochs",
    "data",
    "trainer.precision",
    "trainer.device",
    "trainer.compile",
    "trainer.channels_last",
    "trainer.deterministic",
    "trainer.threads",
)


@dataclass
class FusedLauncherConf:
    _target_: str = "hydra_plugins.cifar_sweep_launchers.fused.FusedLauncher"
    max_fused: int = 8  # jobs per fused group at most


ConfigStore.instance().store(group="hydra/launcher", name="fused", node=FusedLauncherConf, provider="cifar_sweep")


def shape(config: DictConfig) -> str | None:
    """What jobs must share to be fused, or None when it does not resolve (${oc.env:UNSET}): that job
    runs alone, and its own run says why in one line."""
    try:
        return repr(
            {
                key: OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
                for key in SHAPE
                for node in [OmegaConf.select(config, key)]
            }
        )
    except OmegaConfBaseException:
        return None


def groups(configs: dict[int, DictConfig], max_fused: int) -> list[list[int]]:
    """Job numbers grouped by shape, in order, at most max_fused per group; a job whose model is not
    a VGG (the one network cifar_sweep.fusion.FusedModel knows) is a group of its own."""
    from cifar_sweep import VGG_TARGET  # not at Hydra's plugin scan

    by_shape: dict[str, list[int]] = {}
    for idx, config in configs.items():
        target = OmegaConf.select(config, "model._target_")
        if target != VGG_TARGET:
            log.info(f"job #{idx}: model._target_={target} does not fuse (only {VGG_TARGET} does); it runs alone")
        key = shape(config) if target == VGG_TARGET else None
        by_shape.setdefault(key or f"alone {idx}", []).append(idx)
    return [members[i : i + max_fused] for members in by_shape.values() for i in range(0, len(members), max_fused)]


def set_output_dir(config: DictConfig) -> None:
    """hydra.runtime.output_dir, as run_job sets it, so that the job's log file name resolves early."""
    output_dir = Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = os.path.abspath(output_dir)


def is_job(job: int, record: logging.LogRecord) -> bool:
    """A log filter: the record was made by job `job`'s work (cifar_sweep.fusion.CURRENT_JOB)."""
    from cifar_sweep.fusion import CURRENT_JOB

    return CURRENT_JOB.get() == job


@contextmanager
def job_log_files(configs: dict[int, DictConfig], execution_whitelist: Any) -> Iterator[None]:
    """Hydra's job logging for a fused group: its console handler once, and each job's log file
    (job_logging's `file` handler, e.g. <job dir>/run.log) fed only with that job's records."""
    first = next(iter(configs.values()))
    Path(str(first.hydra.runtime.output_dir)).mkdir(parents=True, exist_ok=True)
    configure_log(first.hydra.job_logging, first.hydra.verbose, execution_whitelist=execution_whitelist)
    root = logging.getLogger()
    shared_files = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    for handler in shared_files:  # the first job's file: each job gets its own below
        root.removeHandler(handler)
        handler.close()
    files = []
    for idx, config in configs.items():
        spec = OmegaConf.select(config, "hydra.job_logging.handlers.file")
        if spec is None:
            continue
        path = Path(str(spec.filename))
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode=str(spec.get("mode", "a")))
        fmt = OmegaConf.select(config, f"hydra.job_logging.formatters.{spec.get('formatter', 'simple')}.format")
        handler.setFormatter(logging.Formatter(fmt))
        handler.addFilter(partial(is_job, idx))
        root.addHandler(handler)
        files.append(handler)
    try:
        yield
    finally:
        for handler in files:
            root.removeHandler(handler)
            handler.close()


class FusedLauncher(Launcher):
    def __init__(self, max_fused: int = 8) -> None:
        if max_fused < 1:  # a user's mistake: one line, exit 2
            from cifar_sweep.errors import refuse

            refuse(f"hydra.launcher.max_fused={max_fused}: must be an integer >= 1")
        self.max_fused = max_fused

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        configure_log(
            self.config.hydra.hydra_logging,
            self.config.hydra.verbose,
            execution_whitelist=self.hydra_context.execution_whitelist,
        )
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        configs = {}
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(config):
                config.hydra.job.id, config.hydra.job.num = str(idx), idx
            configs[idx] = config
        returns: dict[int, JobReturn] = {}
        for group in groups(configs, self.max_fused):
            members = {idx: configs[idx] for idx in group}
            if len(group) > 1 and any(c.hydra.job.chdir for c in members.values()):
                log.info(
                    "hydra.job.chdir=true: jobs in one process cannot each have their own working "
                    "directory, so these jobs run one by one"
                )
            if len(group) == 1 or any(c.hydra.job.chdir for c in members.values()):
                returns.update({idx: self.run_one(config) for idx, config in members.items()})
            else:
                log.info(f"training jobs {', '.join(f'#{i}' for i in group)} as one fused model")
                returns.update(self.run_fused(members))
        return [returns[idx] for idx in sorted(returns)]

    def run_one(self, config: DictConfig) -> JobReturn:
        return run_job(
            hydra_context=self.hydra_context,
            task_function=self.task_function,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )

    def run_fused(self, configs: dict[int, DictConfig]) -> dict[int, JobReturn]:
        """Each job through run_job in its own thread; the group's torch work on this thread."""
        from cifar_sweep import fusion  # torch: only when a sweep runs

        group, handover = fusion.Group(len(configs)), threading.Lock()
        returns: dict[int, JobReturn] = {}

        def task(cfg: DictConfig) -> Any:
            try:
                return self.task_function(cfg)
            finally:
                fusion.task_returned()

        def one(idx: int) -> None:
            with fusion.seated(group, idx, handover):
                returns[idx] = run_job(
                    hydra_context=self.hydra_context,
                    task_function=task,
                    config=configs[idx],
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                    configure_logging=False,
                )

        for config in configs.values():
            set_output_dir(config)
        with job_log_files(configs, self.hydra_context.execution_whitelist):
            threads = [
                threading.Thread(target=one, args=(idx,), name=f"fused-job-{idx}", daemon=True) for idx in configs
            ]
            for thread in threads:
                thread.start()
            group.serve()  # every torch computation of the group, on this thread, until each job has left
            for thread in threads:
                thread.join()
        return returns
