"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cifar_sweep.errors import UserError


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call write(file) on a temporary sibling, fsync, then rename it over `path`.
    Raises OSError (full disk, lost mount, no permission) with `path` left as it was."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_file(path: Path, data: bytes | memoryview) -> None:
    """`data` into `path` atomically; a full disk or a lost mount is a UserError, the old file kept."""
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        raise UserError(f"{path}: cannot write it ({e.strerror}); free space or choose another hydra.run.dir") from None
