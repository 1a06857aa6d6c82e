"""run.py as a user types it: overrides, and one clear line for every user mistake."""

import numpy as np
import pytest
import yaml

from cifar_sweep.sources import synthetic_arrays

from helpers import FAST, one_error_line, read_json, run_cli


@pytest.mark.readme  # make test runs it: a README command
def test_run_with_overrides_writes_the_run_directory(tmp_path):
    result = run_cli(
        [*FAST, "trainer.epochs=1", "optimizer=rmsprop", "batch_size=32", "model=vgg11", f"hydra.run.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr
    cfg = yaml.safe_load((tmp_path / ".hydra" / "config.yaml").read_text())
    assert cfg["optimizer"]["_target_"] == "torch.optim.RMSprop"
    assert cfg["batch_size"] == 32 and cfg["model"]["name"] == "vgg11"
    assert read_json(tmp_path / "summary.json")["status"] == "completed"
    assert (tmp_path / "metrics.csv").is_file() and (tmp_path / "checkpoints" / "last.pt").is_file()


def corrupt_npz(folder):
    folder.mkdir()
    (folder / "train.npz").write_bytes(b"PK\x03\x04 truncated")
    (folder / "test.npz").write_bytes(b"PK\x03\x04 truncated")
    return folder


def misshaped_npz(folder):
    folder.mkdir()
    x, y = synthetic_arrays(100, seed=0)
    np.savez(folder / "train.npz", x=x[:, :16], y=y)
    np.savez(folder / "test.npz", x=x, y=y)
    return folder


# (overrides, the start of the one error line: the key, the value and what is allowed); {tmp} is
# this test's directory
MISTAKES = [
    (["optimizer.lr=-1"], "optimizer.lr=-1: must be a positive number"),
    (["optimizer.lr=0"], "optimizer.lr=0: must be a positive number"),
    (["optimizer.lr=1e999"], "optimizer.lr=inf: must be a positive number"),
    (["optimizer.weight_decay=inf"], "optimizer.weight_decay=inf: must be a number >= 0"),
    (["optimizer=sgd", "optimizer.momentum=-0.5"], "optimizer.momentum=-0.5: must be a number in [0, 1)"),
    (
        ["optimizer=sgd", "optimizer.nesterov=true", "optimizer.momentum=0"],
        "optimizer: torch.optim.SGD refuses these arguments (Nesterov momentum requires a momentum",
    ),
    (["scheduler=step", "scheduler.step_size=0"], "scheduler.step_size=0: must be a positive integer"),
    (["scheduler=exponential", "scheduler.gamma=-1"], "scheduler.gamma=-1: must be a number in (0, 1]"),
    (
        ["scheduler=plateau", "scheduler.factor=1.0"],
        "scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau refuses these arguments (ValueError: Factor",
    ),
    (["batch_size=0"], "batch_size=0: must be a positive integer"),
    (["trainer.epochs=0"], "trainer.epochs=0: must be a positive integer"),
    (["model.width=0.001"], "model.width=0.001: leaves a layer with no channels; use model.width >= 1/64"),
    (["data.val_size=2000"], "data.val_size=2000: must be in [0, 2000), the number of training images"),
    (["data.split_seed=-1"], "data.split_seed=-1: must be a non-negative integer"),
    (["data.train_subset=999999"], "data.train_subset=999999: must be at most 1500"),
    (["data=cifar10", "data.dir={tmp}/absent"], "data.dir='{tmp}/absent': no CIFAR-10 there (expected train.npz"),
    (["data=cifar10", "data.dir={corrupt}"], "data.dir: {corrupt}/train.npz is not a readable .npz file"),
    (
        ["data=cifar10", "data.dir={misshaped}"],
        "data.dir: {misshaped}/train.npz: x has dtype uint8 and shape "
        "(100, 16, 32, 3); expected uint8 images of shape (N, 32, 32, 3)",
    ),
    (
        ["trainer.device=cuda"] if not __import__("torch").cuda.is_available() else ["trainer.device=tpu"],
        "trainer.device='cuda': no such device is available here; use trainer.device=auto or cpu"
        if not __import__("torch").cuda.is_available()
        else "trainer.device='tpu': must be one of",
    ),
]


@pytest.mark.parametrize("overrides,expected", MISTAKES, ids=[" ".join(m[0]) for m in MISTAKES])
def test_user_mistake_is_one_line_exit_2_and_no_success(tmp_path, overrides, expected):
    paths = {"tmp": tmp_path, "corrupt": tmp_path / "corrupt", "misshaped": tmp_path / "misshaped"}
    if "{corrupt}" in " ".join(overrides):
        corrupt_npz(paths["corrupt"])
    if "{misshaped}" in " ".join(overrides):
        misshaped_npz(paths["misshaped"])
    run_dir = tmp_path / "run"
    result = run_cli([*FAST, *[o.format(**paths) for o in overrides], f"hydra.run.dir={run_dir}"])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: " + expected.format(**paths)), result.stderr
    assert read_json(run_dir / "summary.json")["status"] == "failed"


@pytest.mark.parametrize(
    "override,expected",
    [
        ("optimizer=lbfgs", "Available options in 'optimizer'"),
        ("scheduler=linear", "Available options in 'scheduler'"),
        ("trainer.typo=1", "Key 'typo' is not in struct"),
    ],
)
def test_unknown_option_or_key_is_named_without_traceback(tmp_path, override, expected):
    result = run_cli([*FAST, override, f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 2  # Hydra's refusals exit 2, like ours (Hydra itself exits 1)
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "summary.json").exists()


def test_a_search_space_key_the_config_lacks_is_one_line_before_any_trial(tmp_path):
    storage = f"sqlite:///{tmp_path}/study.db"
    args = [
        "-m",
        *FAST,
        "hparams_search=lr_pruning",
        f"hydra.sweeper.storage={storage}",
        f"hydra.sweep.dir={tmp_path}/s",
    ]
    result = run_cli([*args, "optimizer.typo=range(1,3)"])
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("error: hydra.sweeper.params: the search space cannot be composed") and "typo" in line
    assert not (tmp_path / "study.db").exists()  # the study is as it was: never created


def test_bad_resume_does_not_touch_an_earlier_result(tmp_path):
    assert run_cli([*FAST, "trainer.epochs=1", f"hydra.run.dir={tmp_path}"]).returncode == 0
    before = (tmp_path / "summary.json").read_text()
    result = run_cli([*FAST, "trainer.resume=true", "optimizer.lr=-1", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 2
    assert (tmp_path / "summary.json").read_text() == before
