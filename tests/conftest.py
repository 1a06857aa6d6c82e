"""Session set-up and fixtures; shared helpers are in helpers.py."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import FAST, PASSWORD, compose_cfg, free_port

# the decoded-data cache of this test session (and its subprocesses), not the user's ~/.cache
os.environ.setdefault("CIFAR_SWEEP_CACHE", tempfile.mkdtemp(prefix="cifar-sweep-test-cache-"))


@pytest.fixture
def fast_cfg():
    return lambda *extra: compose_cfg([*FAST, *extra])


# ---------------------------------------------------------------- PostgreSQL (test_optuna, test_slurm)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on loopback, in a temporary directory, with a password."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql); .ci/run installs them")
    root = Path(tempfile.mkdtemp(prefix="cifar-sweep-pg-"))
    root.chmod(0o755)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    (root / "pw").write_text(PASSWORD)
    port = free_port()
    subprocess.run(
        [
            *as_user,
            bin_dir / "initdb",
            "-D",
            root / "data",
            "-U",
            "postgres",
            "--pwfile",
            root / "pw",
            "--auth=scram-sha-256",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            bin_dir / "pg_ctl",
            "-D",
            root / "data",
            "-l",
            root / "log",
            "-w",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    try:
        yield url
    finally:
        subprocess.run(
            [*as_user, bin_dir / "pg_ctl", "-D", root / "data", "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
