"""The exceptions that end a run without a traceback: a user's mistake, and a pruned trial."""


class UserError(Exception):
    """A mistake in the user's config, data or files; printed as one line, never a traceback."""


class Pruned(Exception):
    """Raised by a run's per-epoch hook to stop it early (a sweeper's pruner gave up on the trial).
    An outcome, not a failure: the run ends with status `pruned`."""
