"""The heartbeats of the trials whose jobs run, kept by the sweeper for any app."""

from __future__ import annotations

import logging
import threading
from typing import Any

import optuna

log = logging.getLogger(__name__)


class Heartbeats:
    """Records the heartbeat of every trial whose job runs, every `interval` seconds, from this process:
    jobs of any app stay alive to other workers for as long as the sweeper waits on them."""

    def __init__(self, storage: optuna.storages.RDBStorage, interval: float) -> None:
        self.storage, self.interval = storage, interval
        self.running: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.beat, name="optuna-pruning-heartbeats", daemon=True)

    def __enter__(self) -> Heartbeats:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()

    def add(self, trial_id: int) -> None:
        self.storage.record_heartbeat(trial_id)
        with self.lock:
            self.running.add(trial_id)

    def remove(self, trial_id: int) -> None:
        with self.lock:
            self.running.discard(trial_id)

    def beat(self) -> None:
        while not self.stop.wait(self.interval):
            with self.lock:
                running = list(self.running)
            for trial_id in running:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as e:  # a busy database: the next beat comes within the grace period
                    log.debug("heartbeat of trial id %d not recorded: %s", trial_id, e)
