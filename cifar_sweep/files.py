"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file a run writes goes through `atomic_write`, so it is also where tests inject a crash:
CIFAR_SWEEP_CRASH_AT="N:before" ends the process (as SIGKILL would, exit 137) during its Nth atomic
write, with the new file written but not yet renamed into place; "N:after" just after the rename;
"N:full" fails that write as a full disk would (OSError ENOSPC), leaving the old file.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cifar_sweep.errors import UserError


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(file) on a temporary sibling, fsync, then rename it over `path`.
    Raises OSError (full disk, lost mount, no permission) with `path` left as it was."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    crash = _crash_point()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            if crash == "full":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if crash == "before":
            os._exit(137)
        os.replace(tmp, path)
        if crash == "after":
            os._exit(137)
    finally:
        tmp.unlink(missing_ok=True)


_writes = 0  # atomic writes of this process, for CIFAR_SWEEP_CRASH_AT


def _crash_point() -> str | None:
    """'before', 'after' or 'full' when CIFAR_SWEEP_CRASH_AT names this write; else None."""
    global _writes
    _writes += 1
    spec = os.environ.get("CIFAR_SWEEP_CRASH_AT")
    if not spec:
        return None
    number, _, stage = spec.partition(":")
    return stage if number.isdigit() and int(number) == _writes else None


def write_file(path: Path, data: bytes | memoryview) -> None:
    """`data` into `path` atomically; a full disk or a lost mount is a UserError, the old file kept."""
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        raise UserError(f"{path}: cannot write it ({e.strerror}); free space or choose another hydra.run.dir") from None
