"""The jobs of hydra/launcher=fused: which can train together, and running a group of them.

Jobs fuse when they share a shape: model (name, width), batch size, epochs, data and its split,
precision, device and the trainer's compute settings. They may differ in everything else: seed,
optimizer and its arguments (its type included), scheduler, weight decay, dropout, augmentation,
patience. Each job runs cifar_sweep.job.run in a thread of this process, with its own run directory
and its own return value; only the training epochs meet, in fusion.Group.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cifar_sweep import job
from cifar_sweep.fusion import Group

SHAPE = ("model.name", "model.width", "batch_size", "trainer.epochs", "data", "trainer.precision", "trainer.device",
         "trainer.compile", "trainer.channels_last", "trainer.deterministic", "trainer.threads")


def shape(config: DictConfig) -> str:
    return repr({key: OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
                 for key in SHAPE for node in [OmegaConf.select(config, key)]})


def groups(configs: dict[int, DictConfig], max_fused: int) -> list[list[int]]:
    """Job numbers grouped by shape, in order, at most max_fused per group."""
    by_shape: dict[str, list[int]] = {}
    for idx, config in configs.items():
        by_shape.setdefault(shape(config), []).append(idx)
    return [members[i:i + max_fused] for members in by_shape.values() for i in range(0, len(members), max_fused)]


def prepare(config: DictConfig) -> JobReturn:
    """What Hydra's run_job does before the task function: the job's output directory and its .hydra/
    files (config.yaml, hydra.yaml, overrides.yaml)."""
    output_dir = Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
    with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
        config.hydra.runtime.output_dir = str(output_dir.resolve())
    task_cfg = config.copy()
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    hydra_cfg = OmegaConf.create({"hydra": OmegaConf.to_container(config.hydra, resolve=True)})  # as HydraConfig holds it
    output_dir.mkdir(parents=True, exist_ok=True)
    if config.hydra.output_subdir is not None:
        hydra_dir = output_dir / str(config.hydra.output_subdir)
        hydra_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(task_cfg, hydra_dir / "config.yaml")
        OmegaConf.save(hydra_cfg, hydra_dir / "hydra.yaml")
        OmegaConf.save(config.hydra.overrides.task, hydra_dir / "overrides.yaml")
    return JobReturn(overrides=OmegaConf.to_container(config.hydra.overrides.task), cfg=task_cfg,
                     hydra_cfg=hydra_cfg, working_dir=os.getcwd(), task_name=str(config.hydra.job.name))


def run_group(configs: dict[int, DictConfig]) -> dict[int, JobReturn]:
    """Each job in its own thread, their training epochs fused; a JobReturn per job."""
    group = Group(len(configs))
    returns = {idx: prepare(config) for idx, config in configs.items()}

    def one(idx: int, seat) -> None:
        ret = returns[idx]
        try:
            ret._return_value = job.run(ret.cfg, ret.hydra_cfg.hydra, seat)
            ret.status = JobStatus.COMPLETED
        except BaseException as e:  # shown by the sweeper, as a job's exception is
            ret._return_value, ret.status = e, JobStatus.FAILED
        finally:
            seat.leave()

    threads = [threading.Thread(target=one, args=(idx, group.seat()), name=f"fused-job-{idx}", daemon=True)
               for idx in configs]
    for thread in threads:
        thread.start()
    group.serve()  # every torch computation of the group, on this thread, until each job has left
    for thread in threads:
        thread.join()
    return returns
