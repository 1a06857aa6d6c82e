"""A tracker's failure in this process: one warning, then the tracker is off (the trackers themselves are
read back in tests/e2e/test_trackers.py)."""

from __future__ import annotations

import logging

import pytest

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


class Recording:
    made = 0

    def __init__(self):
        Recording.made += 1
        self.finished: list[dict] = []

    def epoch(self, row):
        pass

    def finish(self, summary):
        self.finished.append(summary)


def test_guarded_opens_the_tracker_at_the_first_epoch_and_an_abandoned_run_ends_failed():
    Recording.made = 0
    refused = Guarded("mlflow", Recording)
    refused.abandon("UserError: batch_size=5000")  # refused before any epoch: no run was ever opened
    assert Recording.made == 0

    crashed = Guarded("mlflow", Recording)
    crashed.epoch({"epoch": 1})
    crashed.abandon("RuntimeError: boom")
    assert Recording.made == 1
    [summary] = crashed.inner.finished
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: boom"


def test_a_tracker_call_cut_by_ctrl_c_or_sigterm_ends_first_and_a_second_signal_acts_at_once():
    """CI once saw SIGTERM land inside an MLflow write: the run stayed RUNNING. The signal now waits for
    the tracker's call, then acts (KeyboardInterrupt, or the command's Terminated) with the call done; a
    finished tracker is not abandoned again; a second signal during the call acts at once."""
    import os
    import signal

    from cifar_sweep.exits import Terminated, _terminate

    class Interrupted(Recording):
        def finish(self, summary):
            os.kill(os.getpid(), signal.SIGINT)
            super().finish(summary)  # runs although the signal came first

    tracker = Guarded("mlflow", Interrupted)
    tracker.epoch({"epoch": 1})
    with pytest.raises(KeyboardInterrupt):
        tracker.finish({"status": "completed"})
    tracker.abandon("KeyboardInterrupt")  # what the job does next: its run is finished already
    assert [s["status"] for s in tracker.inner.finished] == ["completed"]

    class Twice(Recording):
        def epoch(self, row):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            row["after"] = True  # not reached: the second signal acts at once

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        row: dict = {"epoch": 1}
        with pytest.raises(Terminated):
            Guarded("mlflow", Twice).epoch(row)
        assert "after" not in row
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_every_logger_config_names_a_registered_tracker():
    from helpers import CONF

    assert sorted(p.stem for p in (CONF / "logger").glob("*.yaml")) == sorted(TRACKERS)


@pytest.mark.parametrize("content", [b"", b"\0" * 40, b'{"run_id": "ab', b"[1]", b'{"run_id": ""}'])
def test_a_damaged_tracker_id_file_is_one_warning_and_a_new_run(tmp_path, caplog, content):
    from cifar_sweep.trackers import read_id_file, write_id_file

    path = tmp_path / "mlflow_run.json"
    write_id_file(path, {"run_id": "abc123"})
    assert read_id_file(path) == "abc123"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert read_id_file(path) is None
    assert [r.getMessage().split(" is damaged")[0] for r in caplog.records] == [str(path)]
    assert "this job logs to a new tracker run" in caplog.text
