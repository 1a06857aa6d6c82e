"""How a run, a sweep or a command ends without a traceback, in one vocabulary:

UserError       a mistake in the user's config, data or files: one line, never a traceback
Pruned          a sweeper's pruner stopped the run: an outcome, not a failure
one_line(e)     the one-line text of an exception ("TypeName: its first line"), for summaries and logs
say(message)    print the one `error: message` line on stderr (a job in a sweep then carries on)
refuse(message) say it and exit 2: what every refusal outside a job does
"""

from __future__ import annotations

import sys
from typing import NoReturn


class UserError(Exception):
    """A mistake in the user's config, data or files; printed as one line, never a traceback."""


class Pruned(Exception):
    """Raised by a run's per-epoch hook to stop it early (a sweeper's pruner gave up on the trial).
    An outcome, not a failure: the run ends with status `pruned`."""


def one_line(error: BaseException, kind: str | None = None) -> str:
    """'TypeName: the message's first line'; `kind` in place of the type's name ('' for none)."""
    label = type(error).__name__ if kind is None else kind
    text = f"{label}: {error}" if label else str(error)
    return text.splitlines()[0] if text.strip() else label or type(error).__name__


def say(message: str) -> None:
    """The one line a user mistake prints, on stderr."""
    print(f"error: {message}", file=sys.stderr, flush=True)


def refuse(message: str) -> NoReturn:
    """One line on stderr and exit 2: a user mistake, not a crash (Hydra lets SystemExit through)."""
    say(message)
    sys.exit(2)
