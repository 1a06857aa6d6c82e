"""cifar_sweep/locks.py: one live process per directory, a second one refused naming the holder, and a
killed holder leaves nothing stuck (the kernel drops a dead process's flock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from cifar_sweep import locks
from cifar_sweep.errors import UserError

HOLDER = """
import sys, time
from pathlib import Path
from cifar_sweep import locks
locks.hold(Path(sys.argv[1]), "hydra.run.dir")
print("held", flush=True)
time.sleep(60)
"""


def holder(directory) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_directory_held_by_another_process_is_refused_naming_its_pid_until_it_dies(tmp_path):
    other = holder(tmp_path)
    try:
        busy = rf"hydra.run.dir='{tmp_path}': another command is running there \(pid {other.pid}\)"
        with pytest.raises(locks.Busy, match=busy):
            locks.hold(tmp_path, "hydra.run.dir")
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    with locks.holding(tmp_path, "hydra.run.dir"):  # a killed holder leaves the directory free
        assert (tmp_path / locks.LOCK_FILE).read_text().strip() == str(os.getpid())
    other = holder(tmp_path)  # released at the block's end: another process may take it
    other.kill()
    other.wait()


SLOW_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(0.5)  # the moment between taking the lock and writing the pid, drawn out
os.pwrite(fd, f"{os.getpid():<20}\\n".encode(), 0)
time.sleep(60)
"""


def test_a_command_started_as_the_holder_takes_the_lock_waits_for_its_pid(tmp_path):
    """The file still holds a dead holder's pid when the new holder has the lock but has not written
    its own: the refusal names the live holder, not the dead one (nor "unknown")."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / locks.LOCK_FILE).write_text(dead.stdout)
    other = subprocess.Popen(
        [sys.executable, "-c", SLOW_HOLDER, str(tmp_path / locks.LOCK_FILE)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "locked"
        with pytest.raises(locks.Busy, match=rf"another command is running there \(pid {other.pid}\)"):
            locks.hold(tmp_path, "hydra.run.dir")
    finally:
        other.kill()
        other.wait()


def test_holding_a_directory_again_in_one_process_is_a_no_op_released_by_the_outermost_hold(tmp_path):
    with locks.holding(tmp_path, "hydra.run.dir"):
        with locks.holding(tmp_path / ".", "hydra.sweep.dir"):  # the same directory, spelled otherwise
            pass
        assert tmp_path.resolve() in locks._held  # the inner hold did not release it
    assert tmp_path.resolve() not in locks._held


def test_a_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"hydra.run.dir='.*file/run': cannot write there"):
        locks.hold(tmp_path / "file" / "run", "hydra.run.dir")
