"""What a run leaves in its directory, each file written atomically (temp file + rename):

    metrics.csv             one row per finished epoch
    summary.json            status and headline numbers
    checkpoints/last.pt     everything needed to resume; best.pt: the same at the best val_acc
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from cifar_sweep.config import UserError

METRICS_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds",
                  "images_per_second")


def atomic_write(path: Path, write) -> None:
    """Call write(file) on a temporary sibling, fsync, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk or a lost mount: the previous file is untouched
        raise UserError(f"{path}: cannot write it ({e.strerror}); free space or choose another hydra.run.dir") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def _json_safe(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def write_summary(run_dir: Path, summary: dict) -> None:
    clean = {k: _json_safe(v) for k, v in summary.items()}
    write_text(run_dir / "summary.json", json.dumps(clean, indent=2) + "\n")


def read_summary(run_dir: Path) -> dict | None:
    path = run_dir / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


class MetricsLog:
    """metrics.csv, rewritten whole (atomically) after every epoch; tiny, so that is cheap."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "metrics.csv"
        self.rows: list[dict] = []

    def load(self, up_to_epoch: int) -> None:
        """Keep the rows of epochs already checkpointed (used when resuming)."""
        if self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= up_to_epoch]

    def append(self, row: dict) -> None:
        self.rows.append(row)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRICS_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buf.getvalue())


def save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()  # serialise first: a full disk then fails as an OSError on the write
    torch.save(state, buffer)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))


def load_checkpoint(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)
