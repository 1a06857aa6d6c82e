"""One live process at a time in a run directory, a sweep directory or a job's directory.

`hold(directory, key)` takes an exclusive `flock` on `directory/.lock` and keeps it until `release`
or the process's end: the kernel releases it when the holder dies, however it dies, so a killed run
never leaves its directory stuck. A second command there is refused in one line naming the holder's
pid. Taken where each directory is first entered:

- a single run's directory in callbacks.Preflight.on_run_start, before Hydra writes `.hydra/`;
- a sweep's directory in Preflight.on_multirun_start, before the sweeper writes multirun.yaml;
- each job's directory in task.execute (a job may run in another process: joblib, Slurm).

A process holds each directory once: holding it again (a single run's job in the run's own
directory) is a no-op, and releases only the outermost hold.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cifar_sweep.errors import UserError

LOCK_FILE = ".lock"
PID_WIDTH = 20  # the lock file holds the holder's pid, padded to this width


class Busy(UserError):
    """Another live process holds the directory."""


_held: dict[Path, int] = {}  # directory (resolved) -> the open lock file's descriptor


def hold(directory: Path, key: str) -> bool:
    """Lock `directory` for this process; False if this process holds it already. Raises UserError
    (Busy) when another live process holds it, or when the directory cannot be written."""
    where = Path(directory).resolve()
    if where in _held:
        return False
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd = os.open(where / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        why = f"cannot write there ({e.strerror}); choose a writable directory"
        raise UserError(f"{key}={str(directory)!r}: {why}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = holder_pid(fd)
        os.close(fd)
        raise Busy(
            f"{key}={str(directory)!r}: another command is running there (pid {holder}); wait for it to "
            "end (or stop it), or choose another directory"
        ) from None
    record = f"{os.getpid():<{PID_WIDTH}}\n".encode()  # one write of one width: never an empty file
    os.pwrite(fd, record, 0)
    os.ftruncate(fd, len(record))
    _held[where] = fd
    return True


def holder_pid(fd: int, patience: float = 2.0) -> str:
    """The pid the holder wrote into the lock file. A holder writes it just after taking the lock, so
    a command started at the same instant may read the file before that, empty or with the pid of a
    holder that has died: it reads again until the pid is of a live process, for up to `patience`
    seconds (a holder on another machine, a Slurm job's, never looks alive here)."""
    deadline = time.monotonic() + patience
    while True:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if (text.isdigit() and alive(int(text))) or time.monotonic() > deadline:
            return text or "unknown"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def release(directory: Path) -> None:
    fd = _held.pop(Path(directory).resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def holding(directory: Path, key: str) -> Iterator[None]:
    """`directory` locked for the block (unless this process held it already, then left held)."""
    took = hold(directory, key)
    try:
        yield
    finally:
        if took:
            release(directory)
