"""Experiment trackers a run reports to besides its own files: logger=csv | tensorboard | mlflow | wandb.

metrics.csv and summary.json are always written; a tracker is a copy for the tools people already
run. A tracker that is not installed, down or misconfigured never fails a run and never slows it
for long: its first error is one warning, and from then on the tracker is off.

    tracker = start(cfg, run_dir, sweep_dir)   # after validation; its run opens at the first call below
    tracker.epoch(row)                         # each metrics.csv row
    tracker.finish(summary)                    # the run's outcome
    tracker.abandon(error)                     # a refusal or a crash: an open run ends failed
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cifar_sweep import exits, status
from cifar_sweep.config import flatten
from cifar_sweep.errors import one_line
from cifar_sweep.files import write_file
from cifar_sweep.naming import JobName
from cifar_sweep.results import HEADLINE, Summary, failed, value

log = logging.getLogger(__name__)

SCALARS = {
    "train_loss": "train/loss",
    "train_acc": "train/acc",
    "val_loss": "val/loss",
    "val_acc": "val/acc",
    "lr": "lr",
    "images_per_second": "images_per_second",
}


class Tracker:
    """logger=csv: metrics.csv is the record; nothing else to send."""

    def epoch(self, row: dict) -> None:
        pass

    def finish(self, summary: Summary) -> None:
        pass

    def abandon(self, error: str) -> None:
        pass


class Guarded(Tracker):
    """Runs a tracker's calls; on its first error logs one warning and turns it off. The tracker is made
    (its run opened) at the first epoch or at the finish, so a run refused while loading its data opens
    none; one abandoned after it opened ends failed."""

    def __init__(self, name: str, make) -> None:
        self.name, self.make = name, make
        self.inner: Tracker | None = None
        self.opened = False
        self.finished = False

    def open(self) -> Tracker | None:
        if not self.opened:
            self.opened = True
            self.inner = self._safely(self.make)
        return self.inner

    def _safely(self, action):
        try:  # a signal waits for the call to end: cut in half, it would leave the tracker's run open
            with exits.signals_deferred(), warnings.catch_warnings():  # nor are its deprecations the run's
                warnings.simplefilter("ignore", DeprecationWarning)
                return action()
        except Exception as e:  # any failure of a tracker: never the run's
            log.warning(
                "logger=%s: %s; carrying on without it (metrics.csv has everything)",
                self.name,
                one_line(e),
            )
            self.inner = None
            return None

    def epoch(self, row: dict) -> None:
        if (inner := self.open()) is not None:
            self._safely(lambda: inner.epoch(row))

    def finish(self, summary: Summary) -> None:
        try:
            if (inner := self.open()) is not None:
                self._safely(lambda: inner.finish(summary))
        finally:  # a signal that waited for the call acts now: the call ran to its end
            self.finished = True

    def abandon(self, error: str) -> None:
        if self.inner is not None and not self.finished:
            self.finish(failed(error))


def typed(text: str) -> int | float | str:
    """A swept value as TensorBoard's hparams view sorts it: numbers as numbers."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class TensorBoard(Tracker):
    """Per-epoch scalars in event files. A sweep's job writes to <sweep dir>/<logger.dir>/<job name>, so
    that TensorBoard, pointed at the sweep, lists each run by the values it tried; a single run to
    <run dir>/<logger.dir>. In a sweep the hparams view gets the swept keys alone (the trial number
    first in a search), with the per-epoch scalars as its metrics: no single-point metric cards."""

    METRICS = ("val/acc", "val/loss", "train/acc", "train/loss")  # the hparams view's columns: last values

    def __init__(self, cfg, run_dir: Path, sweep_dir: Path | None, name: JobName) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        folder = run_dir / cfg.logger.dir
        if sweep_dir is not None and name.text:
            folder = sweep_dir / cfg.logger.dir / name.text.replace(os.sep, "_")
        self.writer = SummaryWriter(str(folder))
        self.session_end = None
        if name.text:
            swept = ({"trial": name.trial} if name.trial is not None else {}) | {
                k: typed(v) for k, v in name.swept.items()
            }
            experiment, session_start, self.session_end = hparams(swept, dict.fromkeys(self.METRICS, 0.0))
            for summary in (experiment, session_start):
                self._write(summary)

    def epoch(self, row: dict) -> None:
        for key, tag in SCALARS.items():
            self.writer.add_scalar(tag, float(row[key]), int(row["epoch"]))
        self.writer.flush()

    def finish(self, summary: Summary) -> None:
        if self.session_end is not None:
            self._write(self.session_end)
        self.writer.close()

    def _write(self, summary) -> None:
        """A summary protobuf as it is: add_hparams would add a single-point scalar card per metric."""
        file_writer = self.writer.file_writer
        assert file_writer is not None  # open from SummaryWriter() until close()
        file_writer.add_summary(summary)


class MLflow(Tracker):
    """One MLflow run per job: the flattened config as params, per-epoch metrics, the status as a
    tag and the summary at the end. A resumed job continues its MLflow run (its id is kept in the
    run directory)."""

    def __init__(self, cfg, run_dir: Path, sweep_dir: Path | None, name: JobName) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a server that is down: fail at once
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        home = sweep_dir if sweep_dir is not None else run_dir.parent
        self.client = MlflowClient(tracking_uri=cfg.logger.tracking_uri or f"sqlite:///{home.resolve()}/mlflow.db")
        experiment_name = cfg.logger.experiment or (
            f"{cfg.name}/{sweep_dir.name}" if sweep_dir is not None else cfg.name
        )
        found = self.client.get_experiment_by_name(experiment_name)
        experiment = found.experiment_id if found else self.client.create_experiment(experiment_name)
        self.id_file = run_dir / "mlflow_run.json"
        previous = read_id_file(self.id_file)
        if previous:
            self.run_id = previous
        else:
            run_name = name.text or (str(run_dir.relative_to(home)) if sweep_dir is not None else run_dir.name)
            self.run_id = self.client.create_run(
                experiment, run_name=run_name, tags={"status": "running", "run_dir": str(run_dir)}
            ).info.run_id
            write_id_file(self.id_file, {"run_id": self.run_id, "experiment": experiment_name})
            params = [Param(k, str(v)[:6000]) for k, v in flatten(cfg).items()]
            for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=params[start : start + 100])

    def epoch(self, row: dict) -> None:
        from mlflow.entities import Metric

        step = int(row["epoch"])
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(row[k]), 0, step) for k in SCALARS])

    def finish(self, summary: Summary) -> None:
        from mlflow.entities import Metric

        final = [Metric(k, float(value(summary, k)), 0, 0) for k in HEADLINE if value(summary, k) is not None]
        self.client.log_batch(self.run_id, metrics=final)
        self.client.set_tag(self.run_id, "status", summary.get("status"))
        if summary.get("error"):
            self.client.set_tag(self.run_id, "error", str(summary["error"])[:5000])
        self.client.set_terminated(self.run_id, "FAILED" if summary.get("status") == status.FAILED else "FINISHED")


class WandB(Tracker):
    """One W&B run per job (see cifar_sweep/conf/logger/wandb.yaml): the flattened config, per-epoch metrics, the status
    and the summary's numbers at the end. A resumed job continues its W&B run (its id is kept in the run
    directory); jobs fused in one process each keep their own run."""

    def __init__(self, cfg, run_dir: Path, sweep_dir: Path | None, name: JobName) -> None:
        import wandb

        self.id_file = run_dir / "wandb_run.json"
        run_id = read_id_file(self.id_file)
        mode: Any = cfg.logger.mode or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        self.run = wandb.init(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            group=f"{cfg.name}/{sweep_dir.name}" if sweep_dir is not None else None,
            name=name.text or run_dir.name,
            tags=[f"trial-{name.trial}"] if name.trial is not None else None,
            config=flatten(cfg),
            id=run_id,
            # online, a resumed job continues its run; offline, its second folder carries the same id, and
            # `wandb sync` of both continues the one run (W&B cannot resume offline itself)
            resume="allow" if run_id is not None and mode == "online" else None,
            dir=str(run_dir),
            mode=mode,
            reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )
        if run_id is None:
            write_id_file(self.id_file, {"run_id": self.run.id, "mode": mode})

    def epoch(self, row: dict) -> None:
        self.run.log({tag: float(row[key]) for key, tag in SCALARS.items()}, step=int(row["epoch"]))

    def finish(self, summary: Summary) -> None:
        final = {k: float(value(summary, k)) for k in HEADLINE if value(summary, k) is not None}
        self.run.summary.update({**final, "status": summary.get("status"), "error": summary.get("error")})
        self.run.finish(exit_code=1 if summary.get("status") == status.FAILED else 0)


def read_id_file(path: Path) -> str | None:
    """The run id a resumed job continues; None without one, or, after a warning, when the file is
    damaged (emptied, NUL bytes, cut short): the job then logs to a new tracker run, its training unharmed."""
    if not path.is_file():
        return None
    try:
        run_id = json.loads(path.read_text())["run_id"]
        if isinstance(run_id, str) and run_id:
            return run_id
        raise ValueError(f"run_id={run_id!r}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("%s is damaged (%s): this job logs to a new tracker run", path, one_line(e))
        return None


def write_id_file(path: Path, record: dict) -> None:
    """The tracker's run id, kept in the run directory so that a resumed job continues the same run."""
    write_file(path, (json.dumps(record) + "\n").encode())


# logger=NAME -> its tracker (csv: none beyond metrics.csv); cifar_sweep/conf/logger/NAME.yaml configures it, and
# config.validate allows these names
TRACKERS: dict[str, Callable[..., Tracker] | None] = {
    "csv": None,
    "tensorboard": TensorBoard,
    "mlflow": MLflow,
    "wandb": WandB,
}


def start(cfg, run_dir: Path, sweep_dir: Path | None, name: JobName) -> Tracker:
    """The configured tracker, guarded. `name`: what the job tried (naming.job_name)."""
    make = TRACKERS[cfg.logger.name]
    if make is None:
        return Tracker()
    return Guarded(cfg.logger.name, lambda: make(cfg, run_dir, sweep_dir, name))
