"""hydra/launcher=slurm: hydra-submitit-launcher's Slurm launcher, made to survive cancelled,
timed-out and preempted jobs.

- A job that Slurm ends (scancel, a node failure, too many timeouts) is one log line, and the sweep
  waits for and keeps every other job's result. The job returns `Interrupted` (optuna_pruning_sweeper):
  a grid carries on, and an Optuna search fails that trial and runs it again, up to max_retry times.
  Rerunning a grid's command with trainer.resume=true finishes the job from its last checkpoint.
- On Slurm's timeout or preemption signal, submitit checkpoints and requeues the job; the requeued job
  runs with trainer.resume=true, so it continues from its last epoch.
- signal_delay_s: null sends that signal a fifth of timeout_min before the limit (at most 120 s), so a
  short time limit still leaves the job time to run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus

from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

if TYPE_CHECKING:  # submitit itself only when a sweep runs: plugin discovery stays fast
    from submitit.slurm.slurm import SlurmJob

log = logging.getLogger(__name__)


@dataclass
class ResilientSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.cifar_sweep_launchers.slurm.ResilientSlurmLauncher"
    signal_delay_s: int | None = None  # type: ignore[assignment]  # null: timeout_min * 60 / 5 s, at most 120
    max_num_timeout: int = 3  # requeues after a timeout or preemption (submitit's default: 0)


ConfigStore.instance().store(
    group="hydra/launcher", name="resilient_slurm", node=ResilientSlurmConf, provider="cifar_sweep"
)


def signal_delay(timeout_min: int) -> int:
    return max(1, min(120, int(timeout_min * 60 / 5)))


@contextmanager
def reading_results_with(job_class: type[SlurmJob]) -> Iterator[None]:
    """Within: every job that submitit's Slurm executor makes is a `job_class`, so that upstream's
    launch, used whole, reads each result through it. submitit makes a single job from
    `SlurmExecutor.job_class` (its extension point) and an array's jobs from its module's `SlurmJob`:
    both point to `job_class` while a sweep launches, and are put back afterwards. This is the one
    place we reach into submitit; tests/unit/test_launchers.py checks that it still makes its jobs
    there."""
    from submitit.slurm import slurm

    saved = slurm.SlurmExecutor.job_class, slurm.SlurmJob
    slurm.SlurmExecutor.job_class = job_class
    slurm.SlurmJob = job_class  # type: ignore[misc]
    try:
        yield
    finally:
        slurm.SlurmExecutor.job_class, slurm.SlurmJob = saved  # type: ignore[misc]


def resilient_job_class(sweep_dir: Path) -> type[SlurmJob]:
    """A submitit SlurmJob whose result is a JobReturn even when Slurm ended the job before it could
    return one: one log line and `Interrupted`."""
    import submitit
    from submitit.slurm.slurm import SlurmJob

    from cifar_sweep.sweeps import RESUME
    from optuna_pruning_sweeper import Interrupted

    class ResilientSlurmJob(SlurmJob):
        def results(self) -> list:
            try:
                return super().results()
            except submitit.core.utils.FailedJobError as e:  # the job itself raised: a crash, shown by the sweeper
                return [job_return(self.submission().args[0], JobStatus.FAILED, e)]
            except submitit.core.utils.UncompletedJobError:
                overrides, _, idx = self.submission().args[:3]
            log.warning(
                f"job {idx} (Slurm job {self.job_id}) ended {self.state} before it finished; the other jobs "
                f"go on. Its files stay in {sweep_dir / str(idx)}; rerun the command with {RESUME} to finish it"
            )
            return [job_return(overrides, JobStatus.COMPLETED, Interrupted(f"Slurm job {self.job_id} {self.state}"))]

    return ResilientSlurmJob


def job_return(overrides: Sequence[str], status: JobStatus, value: Any) -> JobReturn:
    ret = JobReturn(overrides=list(overrides), status=status)
    ret.return_value = value
    return ret


class ResilientSlurmLauncher(SlurmLauncher):
    def __init__(self, **params: Any) -> None:
        if params.get("signal_delay_s") is None:
            params["signal_delay_s"] = signal_delay(params["timeout_min"])
        super().__init__(**params)

    def checkpoint(self, sweep_overrides: list[str], *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on the timeout/preemption signal: requeue this job, resuming."""
        import submitit

        from cifar_sweep.sweeps import with_resume

        return submitit.helpers.DelayedSubmission(self, with_resume(sweep_overrides), *args, **kwargs)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Upstream's launch; only each job's result is read by `resilient_job_class`."""
        assert self.config is not None  # set by setup()
        with reading_results_with(resilient_job_class(Path(str(self.config.hydra.sweep.dir)))):
            return super().launch(job_overrides, initial_job_idx)
