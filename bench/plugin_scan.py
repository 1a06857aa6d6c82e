"""What the optuna_pruning plugin adds to every Hydra app's start: the import time Hydra's plugin scan
records for its modules (and its entry point), in fresh interpreters, against hydra-optuna-sweeper's.

    python bench/plugin_scan.py [REPEATS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from _common import result, table

PROBE = """
import json
from hydra.core.plugins import Plugins
stats = Plugins.instance().stats
print(json.dumps({"total": stats.total_time, "modules": stats.modules_import_time}))
"""


def scan() -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def share(stats: dict, names: tuple[str, ...]) -> float:
    return sum(t for module, t in stats["modules"].items() if any(n in module for n in names))


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    runs = [scan() for _ in range(repeats)]
    ours = [share(r, ("optuna_pruning_sweeper", "entry point: optuna_pruning")) for r in runs]
    upstream = [share(r, ("hydra_optuna_sweeper",)) for r in runs]
    total = [r["total"] for r in runs]
    print(f"Hydra plugin scan, {repeats} fresh interpreters, median seconds")
    table(
        [
            ("optuna_pruning (ours)", f"{statistics.median(ours):.4f}"),
            ("hydra_optuna_sweeper (upstream)", f"{statistics.median(upstream):.4f}"),
            ("whole scan, all plugins", f"{statistics.median(total):.4f}"),
        ],
        ("modules", "seconds"),
    )
    result("plugin_scan_seconds", statistics.median(ours), "<0.05")
    result("plugin_scan_upstream_seconds", statistics.median(upstream))
    result("plugin_scan_all_plugins_seconds", statistics.median(total))


if __name__ == "__main__":
    main()
