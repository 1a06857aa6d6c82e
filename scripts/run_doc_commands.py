"""Run a doc page's bash blocks, in order, in a fresh empty folder: proof that its commands work as
written. `python` is this interpreter's; CIFAR_SWEEP is this checkout (the page's own `export
CIFAR_SWEEP=...` line is skipped).

    .venv/bin/python scripts/run_doc_commands.py docs/your-model.md
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blocks(page: Path) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S)


def main() -> int:
    page = Path(sys.argv[1]).resolve()
    script = "\n".join(b for b in blocks(page))
    script = "\n".join(line for line in script.splitlines() if not line.startswith("export CIFAR_SWEEP="))
    env = {
        **os.environ,
        "CIFAR_SWEEP": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    with tempfile.TemporaryDirectory(prefix="doc-commands-") as folder:
        start = time.perf_counter()
        result = subprocess.run(["bash", "-euxo", "pipefail", "-c", script], cwd=folder, env=env)
        print(f"{page.name}: {len(blocks(page))} blocks, exit {result.returncode}, {time.perf_counter() - start:.0f} s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
