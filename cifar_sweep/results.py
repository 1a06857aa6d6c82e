"""What a run records, defined once: its summary.json and its metrics.csv. Torch-free, so that
collect and the report read results without the training code.

    summary.json    `Summary`: the run's status and headline numbers (the job is its one writer)
    metrics.csv     `METRICS_COLUMNS`: one row per finished epoch (`MetricsLog`)

Every file is written atomically (files.write_file): a reader sees the old file or the new one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any, TypedDict, cast

from cifar_sweep import status
from cifar_sweep.errors import UserError
from cifar_sweep.files import write_file

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pragma: no cover
    from typing_extensions import Required


class Summary(TypedDict, total=False):
    """summary.json: made by `summary()`, which checks what each status must hold. Every summary has a
    `status`; one that did not complete says why in `error`; one that trained has the TRAINED numbers it
    reached, and a completed one the TESTED ones too."""

    status: Required[str]  # cifar_sweep.status: completed | failed | pruned
    error: str  # why a run failed or was pruned: one line
    test_acc: float | None  # the final model's test accuracy
    test_loss: float | None
    stopped_early: bool  # trainer.patience ended the run
    params: int | None  # trainable parameters of the model
    device: str  # where it trained, e.g. cuda:0
    best_val_acc: float | None  # validation accuracy of the best epoch
    best_epoch: int | None
    final_val_acc: float | None  # validation accuracy after the last epoch
    epochs_completed: int
    wall_seconds: float  # every attempt of the run together (resume)
    first_step_at: float | None  # unix time of this attempt's first optimizer step
    classes: list[str] | None  # the name of each label, where the data knows them


TESTED = ("test_acc", "test_loss", "stopped_early")  # what only a completed run has
TRAINED = tuple(k for k in Summary.__annotations__ if k not in ("status", "error", *TESTED))


def summary(state: str, error: str | None = None, **numbers: Any) -> Summary:
    """The one way a Summary is made: its status, why it did not complete, and its numbers, in the order
    given. A completed run has every number and no error; a failed or pruned one an error; a mistake
    here is a bug (ValueError)."""
    unknown = numbers.keys() - Summary.__annotations__.keys()
    missing = [k for k in (*TESTED, *TRAINED) if k not in numbers] if state == status.COMPLETED else []
    if state not in status.WRITTEN or unknown or missing or (error is None) != (state == status.COMPLETED):
        raise ValueError(f"summary({state!r}, error={error!r}): unknown {sorted(unknown)}, missing {missing}")
    return cast(Summary, {"status": state, **({"error": error} if error is not None else {}), **numbers})


def failed(error: str) -> Summary:
    """A run refused before it trained, or crashed: its status and why."""
    return summary(status.FAILED, error)


# The summary's numbers a sweep can compare (cfg.objective, collect --metric), with what each means.
OBJECTIVES = {
    "best_val_acc": "validation accuracy of the best epoch",
    "final_val_acc": "validation accuracy after the last epoch",
    "test_acc": "the final model's test accuracy (after the last epoch): what the study compared",
}
# The numbers reported beyond the run directory: trackers' final metrics, Optuna trials' user attrs,
# collect's columns.
HEADLINE = (*OBJECTIVES, "test_loss", "epochs_completed", "wall_seconds")

METRICS_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_seconds",
    "images_per_second",
)
CURVE_COLUMNS = METRICS_COLUMNS[:6]  # the learning curves; the rest is timing


def value(summary: Summary, key: str) -> Any:
    """A summary field named at run time (an objective, a HEADLINE key); None when absent."""
    return cast(dict, summary).get(key)


def _json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_summary(run_dir: Path, summary: Summary) -> None:
    clean = {k: _json_safe(v) for k, v in summary.items()}
    write_file(run_dir / "summary.json", (json.dumps(clean, indent=2) + "\n").encode())


def read_summary(run_dir: Path) -> Summary | None:
    """The run's summary.json; None when there is none. Raises ValueError (or OSError) when it
    cannot be parsed or is not one that a run wrote (an object with a run's `status`)."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if not isinstance(summary, dict) or summary.get("status") not in status.WRITTEN:
        raise ValueError(f"{path} is not a run's summary (no status {' | '.join(status.WRITTEN)})")
    return cast(Summary, summary)


class MetricsLog:
    """metrics.csv, rewritten whole (atomically) after every epoch; tiny, so that is cheap."""

    def __init__(self, run_dir: Path, keep_epochs: int = 0) -> None:
        """keep_epochs: rows of epochs already checkpointed that a resumed run keeps."""
        self.path = run_dir / "metrics.csv"
        self.rows: list[dict] = self.kept(keep_epochs) if keep_epochs else []

    def kept(self, epochs: int) -> list[dict]:
        """The rows of epochs 1 to `epochs`, which a resumed run's checkpoint has trained; one line when
        metrics.csv does not hold each of them once (emptied, NUL bytes or cut short by a power loss)."""
        try:
            text = self.path.read_text()
            if "\0" in text or not text.endswith("\n"):  # NUL bytes, or cut short: append writes whole lines
                raise ValueError("damaged")
            rows = [r for r in csv.DictReader(io.StringIO(text)) if int(r["epoch"]) <= epochs]
            whole = all(r.get(c) is not None for r in rows for c in METRICS_COLUMNS)
            complete = whole and [int(r["epoch"]) for r in rows] == list(range(1, epochs + 1))
        except (OSError, ValueError, TypeError, KeyError, csv.Error):
            complete = False
        if not complete:
            raise UserError(
                f"trainer.resume=true: {self.path} does not hold the rows of the {epochs} epochs its checkpoint "
                f"trained (it is missing or damaged); delete {self.path.parent / 'checkpoints'} to start the "
                "run over, or choose another run directory"
            )
        return rows

    def append(self, row: dict) -> None:
        self.rows.append(row)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_file(self.path, buf.getvalue().encode())
