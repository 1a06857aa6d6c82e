"""A run's checkpoints: checkpoints/last.pt holds everything needed to resume; best.pt the same at
the best val_acc. Written atomically (files.write_file)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from cifar_sweep.files import write_file


def save(path: Path, state: dict) -> None:
    buffer = io.BytesIO()  # serialise first: a full disk then fails as an OSError on the write
    torch.save(state, buffer)
    write_file(path, buffer.getbuffer())


def load(path: Path, device: torch.device) -> dict:
    return torch.load(path, map_location=device, weights_only=True)
