"""cifar-sweep installed as a user installs it: a fresh virtualenv, a non-editable install of the two
distributions (wheels built from the checkout), and a project folder outside the checkout with the
user's own network and an image folder. `cifar-sweep` runs a 2-seed grid there, writes multirun/ there
and nothing in the checkout, and `cifar-sweep collect` makes its tables.

The new virtualenv reuses this one's installed dependencies (a .pth line to its site-packages, whose own
.pth files, the editable installs among them, are not read), so nothing is downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT, read_json, write_image_folder

NETWORK = """
    from torch import nn


    class TinyNet(nn.Module):
        def __init__(self, num_classes: int, in_channels: int = 3) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.head = nn.Linear(8, num_classes)

        def forward(self, x):
            return self.head(self.body(x))
"""


def tracked_state() -> str:
    status = ["git", "status", "--porcelain", "--ignored"]
    return subprocess.run(status, cwd=ROOT, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with cifar-sweep and its sweeper plugin installed from wheels; its bin/."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheels = venv.parent / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels)]
    sources = [str(ROOT / "plugins" / "optuna_pruning_sweeper"), str(ROOT)]
    result = subprocess.run([*build, *sources], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    install = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    result = subprocess.run([*install, *map(str, sorted(wheels.glob("*.whl")))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return venv / "bin"


def test_the_installed_command_sweeps_your_network_on_your_image_folder_from_your_folder(installed, tmp_path):
    before = tracked_state()
    project = tmp_path / "my_project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text(textwrap.dedent(NETWORK))
    (project / "my_conf" / "model").mkdir(parents=True)
    (project / "my_conf" / "model" / "tiny.yaml").write_text(
        "_target_: mypkg.TinyNet\nnum_classes: ${data.num_classes}\nin_channels: ${data.channels}\n"
    )
    write_image_folder(project / "images", classes=("bird", "cat", "dog"), per_class=(12, 4), size=(24, 32))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    command = [
        "cifar-sweep",
        "-m",
        "--config-dir",
        "my_conf",
        "model=tiny",
        "data=folder",
        "data.dir=images",
        "data.image_size=16",
        "trainer.epochs=1",
        "trainer.progress_bar=false",
        "batch_size=8",
        "seed=0,1",
        "hydra.sweep.dir=multirun/tiny_folder",
    ]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    where = subprocess.run(
        [str(installed / "python"), "-c", "import cifar_sweep; print(cifar_sweep.__file__)"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert str(installed.parent) in where and str(ROOT) not in where  # the installed copy ran, not the checkout
    for job in ("0", "1"):
        summary = read_json(project / "multirun" / "tiny_folder" / job / "summary.json")
        assert summary["status"] == "completed" and summary["classes"] == ["bird", "cat", "dog"]
    tables = subprocess.run(
        ["cifar-sweep", "collect", "multirun/tiny_folder"], cwd=project, env=env, capture_output=True, text=True
    )
    assert tables.returncode == 0, tables.stderr[-2000:]
    assert (project / "multirun" / "tiny_folder" / "summary.md").is_file()
    assert "Classes: bird, cat, dog" in (project / "multirun" / "tiny_folder" / "results.md").read_text()
    assert tracked_state() == before  # nothing written in the checkout
