"""hydra-optuna-pruning-sweeper, a module a job:

    settings.py    the sweeper's keys, checked
    errors.py      one line and exit 2 for a mistake
    search.py      the search loop: ask, launch, tell, with refilled slots
    outcome.py     what a job's return means for its trial
    budget.py      which trials count toward n_trials
    heartbeats.py  the heartbeats of running trials, kept by the sweeper
    results.py     optimization_results.yaml
    study.py       where a study lives and how its storage is opened (shared with the jobs)
    job.py         what a job uses to report to its trial
    compat.py      every private or experimental API of Hydra's optuna sweeper and Optuna it touches

Its public API, for jobs and for tools that read a finished search:

    current_trial()            the trial this Hydra job runs (None outside an optuna_pruning sweep)
    trial_of(hydra_cfg)        the same, for the job of this `hydra` node (jobs that share a process)
    trial_reference(hydra_cfg) (storage URL, study name, trial id) of a job, also of a finished one
    Interrupted                returned for a job stopped from outside: its trial runs again
    mask_password(url)         a storage URL fit to print
    sqlite_file(url)           the database file of an sqlite:/// URL, else None
"""

from optuna_pruning_sweeper.study import mask_password, sqlite_file, trial_reference

__version__ = "0.2.0"
__all__ = ["Interrupted", "current_trial", "mask_password", "sqlite_file", "trial_of", "trial_reference"]


class Interrupted(Exception):
    """Returned (or raised) for a job that was stopped from outside before it could finish, such as a
    cancelled or preempted cluster job: its trial is FAIL and is run again with the same parameters, up to
    max_retry times, like the trial of a killed worker. It does not count toward max_failure_rate."""


def current_trial():
    """The Optuna trial this Hydra job runs, or None outside an optuna_pruning sweep (see job.py)."""
    from optuna_pruning_sweeper.job import current_trial as trial

    return trial()


def trial_of(hydra_cfg):
    """The Optuna trial of the job whose `hydra` node this is, or None (see job.py)."""
    from optuna_pruning_sweeper.job import trial_of as trial

    return trial(hydra_cfg)
