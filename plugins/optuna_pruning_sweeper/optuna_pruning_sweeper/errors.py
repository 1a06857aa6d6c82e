"""How the sweeper says what went wrong: one line, never a traceback, for a user's mistake."""

from __future__ import annotations

import sys
from typing import NoReturn


def one_line(error: BaseException) -> str:
    """An exception's message, first line only (its type's name when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def root_cause(error: BaseException) -> BaseException:
    """The exception at the bottom of error's chain (what Hydra's InstantiationException wraps)."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def fail(message: str) -> NoReturn:
    """A mistake in the sweeper's settings or storage: one line on stderr, exit 2."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)
