"""Session set-up and fixtures; shared helpers are in helpers.py."""

from __future__ import annotations

import os
import tempfile

import pytest

from helpers import FAST, compose_cfg

# the decoded-data cache of this test session (and its subprocesses), not the user's ~/.cache
os.environ.setdefault("CIFAR_SWEEP_CACHE", tempfile.mkdtemp(prefix="cifar-sweep-test-cache-"))


@pytest.fixture
def fast_cfg():
    return lambda *extra: compose_cfg([*FAST, *extra])
