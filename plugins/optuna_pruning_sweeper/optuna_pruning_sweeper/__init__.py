"""hydra-optuna-pruning-sweeper: the search loop (search.py), the private API it needs (compat.py), where
a study lives (study.py), and what a job uses to report to its trial (job.py: current_trial)."""

__version__ = "0.2.0"


class Interrupted(Exception):
    """Returned (or raised) for a job that was stopped from outside before it could finish, such as a
    cancelled or preempted cluster job: its trial is FAIL and is run again with the same parameters, up to
    max_retry times, like the trial of a killed worker. It does not count toward max_failure_rate."""


def current_trial():
    """The Optuna trial this Hydra job runs, or None outside an optuna_pruning sweep (see job.py)."""
    from optuna_pruning_sweeper.job import current_trial as trial

    return trial()
