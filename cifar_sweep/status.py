"""A run's status, the one vocabulary for summary.json, collect and the report.

Written by the job (cifar_sweep/task.py, the one writer of summary.json):
    completed   trained every epoch and evaluated the test set
    failed      stopped by a mistake in its config or data, divergence, CUDA out of memory or a crash;
                summary.json's `error` says which
    pruned      stopped early by its sweeper's pruner (an outcome, not a failure)
Seen by collect in a run directory without a readable summary.json:
    incomplete  no summary.json: still running, or killed (its finished epochs are in metrics.csv)
    unreadable  a summary.json that cannot be parsed
"""

COMPLETED = "completed"
FAILED = "failed"
PRUNED = "pruned"
INCOMPLETE = "incomplete"
UNREADABLE = "unreadable"

FINISHED = (COMPLETED, PRUNED)  # a later command never redoes these
WRITTEN = (COMPLETED, FAILED, PRUNED)  # what a run's summary.json may say
STATUSES = (COMPLETED, FAILED, PRUNED, INCOMPLETE, UNREADABLE)

# how the `error` of a run that failed by diverging starts: resuming it would only diverge again
DIVERGED = "diverged"
