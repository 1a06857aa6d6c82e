"""A reader for W&B's offline run files (`run-<id>.wandb`), for tests: recent wandb ships no Python
reader. The format, from wandb's source: a 7-byte file header (b":W&B", 0xBEE1, a version byte), then
LevelDB's log format: 32 KiB blocks of records, each with a 7-byte header (CRC-32 of the type byte and
the data, length, type: FULL, FIRST, MIDDLE, LAST), never split across a block's last 6 bytes; every
whole record is one protobuf `Record` of wandb/proto/wandb_internal.proto."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

BLOCK = 32 * 1024
HEADER = struct.Struct("<IHB")  # checksum, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
MAGIC = struct.pack("<4sH", b":W&B", 0xBEE1)  # then the format's version: 0 (wandb 0.30) or 1


def payloads(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[: len(MAGIC)] == MAGIC and data[len(MAGIC)] in (0, 1), "not a W&B run file"
    out, pending, offset = [], b"", len(MAGIC) + 1
    while offset + HEADER.size <= len(data):
        if BLOCK - offset % BLOCK < HEADER.size:  # the block's tail is padding
            offset += BLOCK - offset % BLOCK
            continue
        checksum, length, kind = HEADER.unpack_from(data, offset)
        if kind == 0 and length == 0:  # zero padding (an unfinished file's end)
            break
        chunk = data[offset + HEADER.size : offset + HEADER.size + length]
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF == checksum, f"bad checksum at {offset}"
        offset += HEADER.size + length
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            out.append(pending + chunk)
    return out


def records(path: Path) -> list:
    """Every `Record` of a run file, in order."""
    from wandb.proto import wandb_internal_pb2

    return [wandb_internal_pb2.Record.FromString(p) for p in payloads(path)]


def read_run(run_dir: Path) -> dict:
    """The run's records by kind: run (id, name, group, tags, config), history rows by step, summary, exit."""
    found: dict = {"history": {}, "summary": {}, "runs": []}
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        for record in records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                found["runs"].append(record.run)
            elif kind == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                found["history"][items.get("_step", record.history.step.num)] = items
            elif kind == "summary":
                found["summary"].update(
                    {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.summary.update}
                )
            elif kind == "exit":
                found["exit"] = record.exit.exit_code
    return found
