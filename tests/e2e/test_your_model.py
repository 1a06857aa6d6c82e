"""Any model and data, swept as the study's grids are: a network in a package outside this repository
with its own config directory (a seeded grid and a pruned search), data=arrays with 1-channel 28x28
images of 5 classes, data=cifar100, and models and data that are refused in one line."""

from __future__ import annotations

import os
import shlex
import signal
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest

from cifar_sweep.collect import collect
from cifar_sweep.sources import synthetic_arrays

from helpers import FAST, ROOT, in_a_shell, interrupt, one_error_line, read_json, run_cli

TINY_NET = '''
import torch
from torch import nn


class TinyNet(nn.Module):
    """Two conv blocks and a linear layer: a user's own network."""

    def __init__(self, num_classes: int, in_channels: int = 3, hidden: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(hidden, 2 * hidden, 3, padding=1), nn.BatchNorm2d(2 * hidden), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(2 * hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
'''
TINY_CONF = """\
_target_: mypkg.TinyNet
num_classes: ${data.num_classes}
in_channels: ${data.channels}
hidden: 8
"""


@pytest.fixture
def user_project(tmp_path: Path) -> tuple[Path, dict]:
    """An empty folder with a package of the user's and a config directory of theirs."""
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text(textwrap.dedent(TINY_NET))
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "model" / "tiny.yaml").write_text(TINY_CONF)
    return tmp_path, {"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}


def write_arrays(folder: Path, channels: int, size: int, classes: int, n: tuple[int, int] = (2000, 400)) -> Path:
    """Learnable images of `classes` classes, `size` pixels square, `channels` channels."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train", n[0], 1), ("test", n[1], 2)):
        x, y = synthetic_arrays(count, seed, classes, size, channels)
        np.savez(folder / f"{name}.npz", x=x, y=y)
    return folder


def test_your_own_network_runs_a_seeded_grid_and_a_pruned_search(user_project):
    project, env = user_project
    fast = [o for o in FAST if not o.startswith("model.")]  # TinyNet has no width
    common = ["--config-dir", "my_conf", "model=tiny", *fast]
    grid = run_cli(["-m", *common, "seed=0,1", "hydra.sweep.dir=grid"], cwd=project, env=env)
    assert grid.returncode == 0, grid.stderr[-3000:]
    jobs = collect(project / "grid")
    assert list(jobs["status"]) == ["completed", "completed"] and sorted(jobs["seed"]) == [0, 1]
    assert read_json(project / "grid" / "0" / "summary.json")["params"] < 5000  # TinyNet, not a VGG
    search = run_cli(
        [
            "-m",
            "hparams_search=lr_pruning",
            *common,
            "trainer.epochs=3",
            "optimizer.lr=choice(0.01,1e-9)",
            "hydra/sweeper/pruner=threshold",
            "hydra.sweeper.pruner.lower=0.3",
            "hydra.sweeper.pruner.n_warmup_steps=1",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.sampler.seed=0",
        ],
        cwd=project,
        env=env,
    )
    assert search.returncode == 0, search.stderr[-3000:]
    trials = optuna.load_study(
        study_name="lr_pruning", storage=f"sqlite:///{project}/multirun/lr_pruning/optuna.db"
    ).trials
    states = {t.params["optimizer.lr"]: t.state.name for t in trials}
    assert len(trials) == 4 and states == {0.01: "COMPLETE", 1e-9: "PRUNED"}


def test_arrays_of_one_channel_28_pixels_and_5_classes_train_and_take_their_shape_from_the_data(tmp_path):
    data = write_arrays(tmp_path / "digits", channels=1, size=28, classes=5)
    result = run_cli(
        [
            "data=arrays",
            f"data.dir={data}",
            "model.width=0.125",
            "trainer.epochs=3",
            "trainer.progress_bar=false",
            "data.val_size=200",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_json(tmp_path / "run" / "summary.json")
    assert summary["status"] == "completed" and summary["test_acc"] > 0.4  # 5 classes: chance is 0.2
    config = (tmp_path / "run" / ".hydra" / "config.yaml").read_text()
    assert "num_classes: ${data.num_classes}" in config  # the model follows the data, by interpolation
    log = (tmp_path / "run" / "run.log").read_text()
    assert "1800 training images, per-epoch validation on 200 held-out images, 400 test images" in log


def test_cifar100_from_arrays_has_100_classes(tmp_path):
    data = write_arrays(tmp_path / "c100", channels=3, size=32, classes=100, n=(1000, 300))
    result = run_cli(
        [
            "data=cifar100",
            f"data.dir={data}",
            "model=resnet18",
            "model.width=0.125",
            "trainer.epochs=1",
            "trainer.progress_bar=false",
            f"hydra.run.dir={tmp_path / 'run'}",
            "data.val_size=0",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_json(tmp_path / "run" / "summary.json")["status"] == "completed"
    assert "ResNet width 0.125" in (tmp_path / "run" / "run.log").read_text()


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["model._target_=nowhere_pkg.Net"], "error: model._target_='nowhere_pkg.Net': cannot import it"),
        (["model._target_=os.getcwd"], "error: model._target_='os.getcwd': is not an nn.Module"),
        (["model.num_classes=7"], "error: model: cifar_sweep.models.VGG outputs shape (2, 7) for a batch of 2"),
        (["data=arrays"], "error: data.dir=None: data=arrays needs the folder of your train.npz and test.npz"),
        (["data=arrays", "data.dir=/nonexistent"], "error: data.dir='/nonexistent': no train.npz there"),
        (["data.channels=2"], "error: data.channels=2: must be one of 1 | 3"),
    ],
)
def test_a_bad_model_or_data_config_is_one_line_before_training(tmp_path, overrides, expected):
    result = run_cli([*FAST, *overrides, f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 2
    assert one_error_line(result).startswith(expected)
    assert not (tmp_path / "metrics.csv").exists()


def test_a_grid_over_two_model_families_collects_into_one_table(tmp_path):
    result = run_cli(["-m", *FAST, "model=vgg16,resnet18", "hydra/launcher=fused", f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "job #1: model._target_=cifar_sweep.models.ResNet does not fuse" in result.stdout + result.stderr
    jobs = collect(tmp_path)
    assert list(jobs["model"]) == ["vgg16", "resnet18"] and list(jobs["status"]) == ["completed", "completed"]
    collected = run_cli([str(tmp_path)], module="cifar_sweep.collect")
    assert collected.returncode == 0 and "vgg16" in collected.stdout and "resnet18" in collected.stdout
    assert (tmp_path / "plots" / "summary.png").is_file()


def test_a_grid_over_two_timm_architectures(tmp_path):
    pytest.importorskip("timm", reason="pip install -e '.[timm]'")
    fast = [o for o in FAST if not o.startswith("model.")]  # timm's networks take no width
    small = ["data.train_size=600", "data.val_size=100", "data.test_size=100", "trainer.epochs=1"]
    names = "model.model_name=test_resnet,test_efficientnet"
    result = run_cli(["-m", *fast, *small, "model=timm", names, f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = collect(tmp_path)
    assert list(jobs["model.model_name"]) == ["test_resnet", "test_efficientnet"]
    assert list(jobs["status"]) == ["completed", "completed"]
    params = [read_json(tmp_path / job / "summary.json")["params"] for job in ("0", "1")]
    assert params[0] != params[1]  # two networks, built by timm.create_model for the data's 10 classes


def src_layout(project: Path) -> dict:
    """The user's package moved under src/, found only through PYTHONPATH=src (the folder a command
    runs in is on the path already); the environment that finds it."""
    (project / "src").mkdir()
    (project / "mypkg").rename(project / "src" / "mypkg")
    return {"PYTHONPATH": f"{ROOT}{os.pathsep}{project / 'src'}"}


def search_of_tiny(project: Path, n_trials: int) -> list[str]:
    fast = [o for o in FAST if not o.startswith("model.")]  # TinyNet has no width
    return [
        "-m",
        "hparams_search=lr_pruning",
        "--config-dir",
        "my_conf",
        "model=tiny",
        *fast,
        "hydra/sweeper/pruner=none",
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.storage=sqlite:///{project}/study.db",
        "hydra.sweep.dir=search",
    ]


def trial_states(project: Path) -> list[str]:
    return [
        t.state.name for t in optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{project}/study.db").trials
    ]


def test_a_search_without_the_models_package_stops_at_its_third_refusal_and_keeps_its_budget(user_project):
    """Started without the user's package on PYTHONPATH, every trial would be refused for the same import
    and use up n_trials: it stops at the third with one line, exit 2; the right command then runs the rest."""
    project, _ = user_project
    env = src_layout(project)
    args = search_of_tiny(project, n_trials=5)
    stopped = run_cli(args, cwd=project)  # PYTHONPATH: cifar-sweep only
    assert stopped.returncode == 2, stopped.stderr[-3000:]
    errors = [line for line in stopped.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    assert errors[3].startswith(
        "error: hydra.callbacks.refusals.limit=3: the sweep in search stopped, as its last 3 jobs were refused "
        "with the same error (model._target_='mypkg.TinyNet': cannot import it"
    ), errors[3]
    assert trial_states(project) == ["FAIL", "FAIL", "FAIL", "WAITING"]  # the third queued to run again
    third = optuna.load_study(study_name="lr_pruning", storage=f"sqlite:///{project}/study.db").trials[2]
    assert third.user_attrs["fail_reason"] == "the app stopped the sweep (exit 2)"
    fixed = run_cli(args, cwd=project, env=env)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    states = trial_states(project)
    assert states[:3] == ["FAIL"] * 3 and states[3:] == ["COMPLETE"] * 3, states  # 5 - 2 refused: 3 trained


def test_a_search_interrupted_in_your_project_continues_with_the_printed_line_and_its_pythonpath(user_project):
    """`PYTHONPATH=...:src python run.py -m ...`, Ctrl-C: the line it prints, pasted into a shell
    without PYTHONPATH, carries it and finishes the search (without it each trial would be refused)."""
    project, _ = user_project
    env = src_layout(project)
    args = [*search_of_tiny(project, n_trials=2), "trainer.epochs=30"]
    stopped = interrupt(args, signal.SIGINT, cwd=project, env=env)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    line = stopped.stderr.strip().splitlines()[-1]
    command = line.split("; continue it with: ", 1)[1]
    assert command.startswith(f"PYTHONPATH={shlex.quote(env['PYTHONPATH'])} python "), command
    finished = in_a_shell(command.replace("trainer.epochs=30", "trainer.epochs=2"), cwd=project)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert trial_states(project) == ["FAIL", "COMPLETE", "COMPLETE"]
