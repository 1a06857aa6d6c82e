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
from pathlib import Path
from typing import Any

import torch

from cifar_sweep.errors import UserError
from cifar_sweep.files import atomic_write

METRICS_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds",
                  "images_per_second")


def write_atomically(path: Path, data: bytes | memoryview) -> None:
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:  # a full disk or a lost mount: the previous file is untouched
        raise UserError(f"{path}: cannot write it ({e.strerror}); free space or choose another hydra.run.dir") from None


def write_text(path: Path, text: str) -> None:
    write_atomically(path, text.encode())


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

    def __init__(self, run_dir: Path, keep_epochs: int = 0) -> None:
        """keep_epochs: rows of epochs already checkpointed that a resumed run keeps."""
        self.path = run_dir / "metrics.csv"
        self.rows: list[dict] = []
        if keep_epochs and self.path.is_file():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= keep_epochs]

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
    write_atomically(path, buffer.getbuffer())


def load_checkpoint(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)
