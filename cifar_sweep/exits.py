"""How `python run.py` ends, whatever stops it.

- A mistake is exit 2, ours (`error: ...`) and Hydra's alike (an unknown key, a bad override: Hydra
  prints its message and exits 1; that becomes 2). A run that trained and failed is exit 1.
- Ctrl-C (SIGINT) and SIGTERM end with one line, saying what stopped and the command that continues
  it, and exit 130 / 143 (128 + the signal), without a traceback. The callback `callbacks.Whereabouts`
  records what is running (`NOW`); the sweeper closes its trials on the way out.
"""

from __future__ import annotations

import multiprocessing.util
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from hydra.errors import CompactHydraException

from cifar_sweep import sweeps


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanups run as for Ctrl-C."""


@dataclass
class Activity:
    kind: str  # run, grid or search
    directory: str
    resume: str  # the command that continues it


NOW: Activity | None = None  # set by callbacks.Whereabouts when a run or sweep starts


def resume_command(kind: str, directory: str) -> str:
    """This command, made to continue what it started, as a shell line: a run or grid with
    trainer.resume=true in its own directory; a search as it was typed (its study holds its state). It
    keeps the PYTHONPATH it ran with (your model's module may be found only through it)."""
    args = sys.argv[1:]
    if kind != "search":
        args = sweeps.with_resume(args, ("hydra.run.dir" if kind == "run" else "hydra.sweep.dir", directory))
    path = os.environ.get("PYTHONPATH")
    return " ".join([*([f"PYTHONPATH={shlex.quote(path)}"] if path else []), *map(shlex.quote, [*invocation(), *args])])


def invocation() -> list[str]:
    """How this command was started: `python run.py`, `python -m cifar_sweep` or `cifar-sweep`."""
    script = Path(sys.argv[0])
    if script.name == "__main__.py" and script.parent.name == "cifar_sweep":
        return ["python", "-m", "cifar_sweep"]
    if script.name == "cifar-sweep":
        return ["cifar-sweep"]
    return ["python", sys.argv[0]]


def _terminate(signum, frame) -> None:
    raise Terminated


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the block to end (a tracker's write, which a signal cut in half would
    leave its run open), then act as they would have; a second one acts at once. Only in the main
    thread, where Python runs signal handlers (elsewhere the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    caught: list[signal.Signals] = []

    def restore() -> None:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)

    def defer(signum, frame) -> None:
        caught.append(signal.Signals(signum))
        restore()  # the second signal is handled at once

    for signum in handlers:
        signal.signal(signum, defer)
    try:
        yield
    finally:
        restore()
    if caught:
        handler = handlers[caught[0]]
        if callable(handler):
            handler(caught[0], None)
        else:
            signal.raise_signal(caught[0])


def interrupted(code: int, what: str) -> NoReturn:
    """The one line, then exit at once: by now the sweeper has closed its trials and every file is
    written atomically, while the interpreter's own shutdown could hang on a worker thread or abort
    when a daemon thread (a fused job) holds stdout's lock at that moment."""
    if NOW is None:
        print(f"interrupted ({what}) before anything started", file=sys.stderr)
    else:
        print(
            f"interrupted ({what}): the {NOW.kind} in {NOW.directory} stopped; continue it with: {NOW.resume}",
            file=sys.stderr,
        )
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    release_semaphores()
    os._exit(code)


def release_semaphores() -> None:
    """Unlink the named semaphores this process made (a joblib grid's queues), as its normal exit would:
    else the resource tracker warns of them after the one line, once the killed workers are gone. The
    finalizers of priority >= 0 unlink semaphores and sockets and close queues (no multiprocessing.Pool
    here); those that join feeder threads have priority < 0 and stay unrun."""
    multiprocessing.util._run_finalizers(0)  # type: ignore[attr-defined]  # what its atexit hook runs first


@contextmanager
def command_exits() -> Iterator[None]:
    """Wrap a Hydra app's main(): exit 2 for Hydra's refusals, one line and 130/143 for Ctrl-C/SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    except KeyboardInterrupt:
        interrupted(128 + signal.SIGINT, "Ctrl-C")
    except Terminated:
        interrupted(128 + signal.SIGTERM, "SIGTERM")
    except SystemExit as e:
        # Hydra reports a refused config and then exits 1 from inside its `except`, so the refusal is
        # the SystemExit's context; a run that failed exits 1 with no exception behind it
        if e.code == 1 and isinstance(e.__context__, CompactHydraException):
            sys.exit(2)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
