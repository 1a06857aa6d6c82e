"""A tracker's failure in this process: one warning, then the tracker is off (the trackers themselves are
read back in tests/e2e/test_trackers.py)."""

from __future__ import annotations

import logging

from cifar_sweep.trackers import TRACKERS, Guarded


def test_guarded_warns_once_and_turns_the_tracker_off(caplog):
    class Flaky:
        calls = 0

        def epoch(self, row):
            Flaky.calls += 1
            raise ConnectionError("server gone")

    with caplog.at_level(logging.WARNING, logger="cifar_sweep.trackers"):
        tracker = Guarded("mlflow", Flaky)
        for epoch in range(3):
            tracker.epoch({"epoch": epoch})
        tracker.finish({})
    assert Flaky.calls == 1 and len(caplog.records) == 1
    assert "ConnectionError: server gone" in caplog.records[0].getMessage()


def test_every_logger_config_names_a_registered_tracker():
    from helpers import CONF

    assert sorted(p.stem for p in (CONF / "logger").glob("*.yaml")) == sorted(TRACKERS)
