"""Lab only: carry the lab's CIFAR-10 arrays to its lent GPU machine inside a 64 MiB transfer limit.

The lab's arrays (171 MB as npz) were decoded from JPEG quality 75 with 4:2:0 chroma. Re-encoded the
same way they take ~53 MiB and decode to within 0.2 grey levels of the originals on average.

    python bench/lab/gpu_data.py pack SRC_DIR [DEST]      here: $CIFAR10_DIR -> .data/cifar10_jpeg
    python bench/lab/gpu_data.py unpack [SRC] [DEST_DIR]  there: .data/cifar10_jpeg -> /tmp/cifar10/{train,test}.npz
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

PACKED = Path(".data/cifar10_jpeg")


def pack(src: Path, dest: Path = PACKED) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        with np.load(src / f"{split}.npz") as f:
            x, y = f["x"], f["y"]
        blobs = []
        for image in x:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "JPEG", quality=75, subsampling=2)
            blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
        offsets = np.cumsum([0] + [len(b) for b in blobs])
        np.savez(dest / f"{split}.npz", blob=np.concatenate(blobs), offsets=offsets, y=y)
        print(f"{split}: {len(y)} images, {(dest / f'{split}.npz').stat().st_size / 2**20:.1f} MiB")


def unpack(src: Path = PACKED, dest: Path = Path("/tmp/cifar10")) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        with np.load(src / f"{split}.npz") as f:
            blob, offsets, y = f["blob"], f["offsets"], f["y"]
        x = np.stack(
            [
                np.asarray(Image.open(io.BytesIO(blob[a:b].tobytes())).convert("RGB"))
                for a, b in zip(offsets[:-1], offsets[1:])
            ]
        )
        np.savez(dest / f"{split}.npz", x=x, y=y)
        print(f"{split}: {x.shape} -> {dest / f'{split}.npz'}")


if __name__ == "__main__":
    command, *paths = sys.argv[1:]
    {"pack": pack, "unpack": unpack}[command](*map(Path, paths))
