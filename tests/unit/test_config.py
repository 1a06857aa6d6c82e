"""Composition of every config option, the defaults, and validation of user values."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from cifar_sweep.arrays import RESAMPLING
from cifar_sweep.config import validate
from cifar_sweep.errors import UserError

from helpers import CONF, compose_cfg, write_idx_dataset, write_image_folder

GROUPS = ["model", "optimizer", "scheduler", "regularization", "data", "trainer", "experiment", "hparams_search"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


def test_required_options_exist():
    have = {g: {o for gg, o in OPTIONS if gg == g} for g in GROUPS}
    assert have["model"] == {"vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "timm", "torchvision"}
    assert have["optimizer"] == {"adam", "adamw", "rmsprop", "sgd"}
    assert have["scheduler"] == {"cosine", "step", "multistep", "exponential", "plateau", "onecycle", "none"}
    assert have["regularization"] == {
        "none",
        "weight_decay",
        "augmentation",
        "dropout",
        "weight_decay_augmentation",
        "strong_augmentation",
    }
    assert have["data"] == {"cifar10", "cifar100", "arrays", "folder", "torchvision", "synthetic"}


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(group, option, tmp_path):
    data = [f"data.dir={tmp_path}"]
    if option == "arrays":  # data=arrays reads what its train.npz holds
        write_arrays(tmp_path, channels=1, size=28, classes=5)
    if (group, option) == ("data", "folder"):  # so does data=folder its train/ folder
        write_image_folder(tmp_path, size=(28, 28))
    if (group, option) == ("data", "torchvision"):  # and data=torchvision its dataset's training split
        data = [f"data.dataset.root={write_idx_dataset(tmp_path)}"]
    cfg = compose_cfg([f"{group}={option}", *data])
    OmegaConf.resolve(cfg)  # every interpolation resolves
    if group != "hparams_search":  # searches are checked per trial, not as one config
        validate(cfg)
    if group == "model" and option.startswith("vgg"):
        assert cfg.model.name == option
    if option == "arrays":
        assert (cfg.data.num_classes, cfg.data.channels, cfg.data.image_size) == (5, 1, 28)
        assert cfg.model.num_classes == 5 and cfg.model.in_channels == 1  # the model follows the data


def write_arrays(folder, channels: int, size: int, classes: int, n: int = 60) -> str:
    import numpy as np

    rng = np.random.default_rng(0)
    for name in ("train", "test"):
        x = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
        np.savez(folder / f"{name}.npz", x=x, y=np.arange(n) % classes)
    return str(folder)


def test_defaults_are_the_final_recipe():
    cfg = compose_cfg()
    assert cfg.model.name == "vgg16" and cfg.model.width == 1.0
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-3
    assert cfg.optimizer.weight_decay == 5e-5
    assert cfg.scheduler._target_.endswith("CosineAnnealingLR") and cfg.scheduler.T_max == 50
    assert cfg.batch_size == 64 and cfg.trainer.epochs == 50
    assert dict(cfg.augment) == STUDY_AUGMENT
    assert list(cfg.data.normalize.mean) == [0.5] * 3 and list(cfg.data.normalize.std) == [0.5] * 3
    assert cfg.objective == "best_val_acc" and cfg.data.val_size == 5000  # ours: a held-out split


STUDY_AUGMENT = {
    "rotation": 15.0,
    "translate": 0.1,
    "whole_pixels": True,
    "scale": 0.0,
    "shear": 0.0,
    "crop_padding": 0,
    "flip": 0.5,
    "interpolation": "nearest",
}


def test_study_final_is_the_notebook_setting_for_setting():
    """The study's own record of its final notebook (docs/reproducing.md)."""
    cfg = compose_cfg(["experiment=study_final"])
    assert cfg.model.name == "vgg16" and cfg.model.width == 1.0 and cfg.model.dropout == 0
    assert cfg.optimizer._target_ == "torch.optim.Adam"
    assert cfg.optimizer.lr == 1e-3 and cfg.optimizer.weight_decay == 5e-5
    assert cfg.scheduler._target_ == "torch.optim.lr_scheduler.CosineAnnealingLR"
    assert cfg.scheduler.T_max == 50 and cfg.scheduler.interval == "epoch"
    assert cfg.batch_size == 64 and cfg.trainer.epochs == 50 and cfg.trainer.precision == "fp32"
    assert dict(cfg.augment) == STUDY_AUGMENT
    assert list(cfg.data.normalize.mean) == [0.5] * 3 and list(cfg.data.normalize.std) == [0.5] * 3
    assert cfg.data.val_size == 0 and cfg.data.train_subset is None
    assert cfg.objective == "test_acc"
    assert cfg.trainer.fused_optimizer is False  # Adam's plain step: the fused one rounds otherwise


@pytest.mark.parametrize(
    "setting,overrides,fused",
    [
        ("auto", [], True),  # Adam's fused step on the CPU by default
        ("false", [], None),
        ("true", [], True),
        ("auto", ["+optimizer.fused=false"], False),  # the optimizer's own argument wins
        ("auto", ["optimizer=rmsprop"], "absent"),  # none to take: its own step
    ],
)
def test_fused_optimizer_takes_the_fused_step_where_there_is_one(setting, overrides, fused):
    import torch

    from cifar_sweep.optim import build_optimizer

    cfg = compose_cfg([*overrides, f"trainer.fused_optimizer={setting}"])
    optimizer = build_optimizer(
        cfg.optimizer, torch.nn.Linear(2, 2), torch.device("cpu"), (), cfg.trainer.fused_optimizer
    )
    assert optimizer.defaults.get("fused", "absent") == fused


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["optimizer=adam"], {"lr": 1e-3, "weight_decay": 5e-5}),
        (["optimizer=rmsprop"], {"lr": 1e-3, "weight_decay": 1e-6}),
        (["optimizer=sgd"], {"lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-2}),
    ],
)
def test_optimizers_grid_uses_the_studys_code_values(overrides, expected):
    cfg = compose_cfg(["experiment=optimizers", *overrides])
    assert {k: cfg.optimizer[k] for k in expected} == expected


def test_study_grids_use_the_studys_settings():
    over = compose_cfg(["experiment=overfitting"])
    assert over.trainer.epochs == 20 and over.optimizer.weight_decay == 0 and over.augment.flip == 0
    assert over.scheduler._target_.endswith("StepLR") and over.scheduler.step_size == 10 and over.scheduler.gamma == 0.1
    assert over.batch_size == 32 and over.data.val_size == 0 and over.objective == "test_acc"
    step = compose_cfg(["experiment=schedulers", "scheduler=step"]).scheduler
    assert (step.step_size, step.gamma) == (10, 0.1)
    for name in ("regularization", "optimizers", "schedulers", "batch_sizes"):
        cfg = compose_cfg([f"experiment={name}"])
        assert cfg.objective == "test_acc" and cfg.data.val_size == 0 and cfg.trainer.precision == "fp32", name


def test_cosine_t_max_follows_epochs():
    assert compose_cfg(["trainer.epochs=7"]).scheduler.T_max == 7


def test_regularization_options_set_what_they_name():
    none = compose_cfg(["regularization=none"])
    assert none.optimizer.weight_decay == 0 and none.model.dropout == 0 and none.augment.flip == 0
    assert compose_cfg(["regularization=dropout"]).model.dropout > 0
    aug = compose_cfg(["regularization=augmentation"])
    assert aug.optimizer.weight_decay == 0 and aug.augment.rotation > 0
    # a group choice does not undo an explicit override
    assert compose_cfg(["regularization=weight_decay", "optimizer.weight_decay=1e-3"]).optimizer.weight_decay == 1e-3
    # weight decay is the optimizer's own study value unless a regularization removes it
    assert compose_cfg(["optimizer=sgd"]).optimizer.weight_decay == 1e-2
    assert compose_cfg(["optimizer=sgd", "regularization=augmentation"]).optimizer.weight_decay == 0
    assert compose_cfg(["regularization=strong_augmentation"]).augment.interpolation == "bilinear"


# (override, the whole message: the key, the value as read, and what is allowed)
KEYS = "cache_dir, channels, dir, download, eval_batch_size, image_size, interpolation, normalize, num_classes, "
KEYS += "source, split_seed, train_subset, val_size"
WHY = "(nothing would read it); its keys are"
EVERY = "must be a whole number of epochs >= 1, or a time since the last save such as '120s' or '5min'"
BAD_VALUES = [
    ("+data.foo=1", f"data.foo: no such key for data.source=cifar10 (nothing would read it); its keys are {KEYS}"),
    (
        "+data._target_=torchvision.datasets.FakeData",
        f"data._target_: no such key for data.source=cifar10 {WHY} {KEYS}",
    ),
    (
        "+data.interpolation=bilinear data=synthetic",
        f"data.interpolation: no such key for data.source=synthetic {WHY} cache_dir, channels, dir, download, "
        "eval_batch_size, image_size, normalize, num_classes, source, split_seed, test_size, train_size, train_subset, "
        "val_size",
    ),
    (
        "data.image_size=[0,32]",
        "data.image_size=[0, 32]: must be a positive integer N (N x N images) or [H,W], two positive integers",
    ),
    (
        "data.image_size=[8,8,8]",
        "data.image_size=[8, 8, 8]: must be a positive integer N (N x N images) or [H,W], two positive integers",
    ),
    ("data.interpolation=cubic", "data.interpolation='cubic': must be one of " + " | ".join(RESAMPLING)),
    ("data=synthetic data.test_size=0", "data.test_size=0: must be a positive integer"),
    ("data=synthetic data.train_size=-5", "data.train_size=-5: must be a positive integer"),
    ("optimizer.lr=-1", "optimizer.lr=-1: must be a positive number"),
    ("optimizer.lr=0", "optimizer.lr=0: must be a positive number"),
    ("optimizer.lr=abc", "optimizer.lr='abc': must be a positive number"),
    ("optimizer.weight_decay=-0.1", "optimizer.weight_decay=-0.1: must be a number >= 0"),
    ("batch_size=0", "batch_size=0: must be a positive integer"),
    ("batch_size=2.5", "batch_size=2.5: must be a positive integer"),
    ("trainer.epochs=0", "trainer.epochs=0: must be a positive integer"),
    ("trainer.epochs=-3", "trainer.epochs=-3: must be a positive integer"),
    ("model.width=0", "model.width=0: must be a positive number"),
    ("model.width=0.01", "model.width=0.01: leaves a layer with no channels; use model.width >= 1/64"),
    ("model.dropout=1.0", "model.dropout=1.0: must be a number in [0.0, 1.0)"),
    ("model.name=resnet", "model.name='resnet': must be one of vgg11 | vgg13 | vgg16 | vgg19"),
    (
        "data.val_size=-1",
        "data.val_size=-1: must be a non-negative integer (0: train on every training image, validate on the test set)",
    ),
    (
        "data.normalize.std=[0.5,0,0.5]",
        "data.normalize.std=[0.5, 0, 0.5]: must be three finite numbers, one per RGB channel, each > 0",
    ),
    ("data.normalize.mean=[0.5]", "data.normalize.mean=[0.5]: must be three finite numbers, one per RGB channel"),
    ("augment.interpolation=bicubic", "augment.interpolation='bicubic': must be one of nearest | bilinear"),
    ("logger=wandb logger.mode=cloud", "logger.mode='cloud': must be one of None | online | offline | disabled"),
    ("augment.whole_pixels=maybe", "augment.whole_pixels='maybe': must be one of True | False"),
    ("data.train_subset=-5", "data.train_subset=-5: must be a positive integer"),
    ("trainer.device=tpu", "trainer.device='tpu': must be one of auto | cpu | cuda | mps"),
    ("trainer.precision=fp8", "trainer.precision='fp8': must be one of auto | fp32 | tf32 | bf16 | fp64"),
    ("augment.flip=1.5", "augment.flip=1.5: must be a number in [0.0, 1.0]"),
    ("augment.scale=1.0", "augment.scale=1.0: must be a number in [0.0, 1.0)"),
    ("augment.crop_padding=2.5", "augment.crop_padding=2.5: must be an integer number of pixels in [0, 16]"),
    ("objective=loss", "objective='loss': must be one of best_val_acc | final_val_acc | test_acc"),
    ("seed=-1", "seed=-1: must be an integer in [0, 2**64 - 1]"),
    ("seed=18446744073709551616", "seed=18446744073709551616: must be an integer in [0, 2**64 - 1]"),
    ("trainer.patience=0", "trainer.patience=0: must be a positive integer"),
    ("trainer.fused_optimizer=maybe", "trainer.fused_optimizer='maybe': must be one of auto | True | False"),
    (
        "optimizer=rmsprop trainer.fused_optimizer=true",
        "trainer.fused_optimizer=true: torch.optim.RMSprop has no fused step on cpu; use "
        "trainer.fused_optimizer=auto or false",
    ),
    ("trainer.checkpoint_every=2h", "trainer.checkpoint_every='2h': " + EVERY),
    (
        "data.eval_batch_size=big",
        "data.eval_batch_size='big': must be auto (1024 on a GPU, 256 on the CPU) or a positive integer",
    ),
    (
        "data.eval_batch_size=0",
        "data.eval_batch_size=0: must be auto (1024 on a GPU, 256 on the CPU) or a positive integer",
    ),
]


@pytest.mark.parametrize("override,expected", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_values_name_key_value_and_what_is_allowed(override, expected):
    cfg = compose_cfg(override.split())
    with pytest.raises(UserError) as err:
        validate(cfg)
    assert str(err.value) == expected


def test_batch_size_is_one_key_in_the_cli_grids_and_searches():
    assert compose_cfg(["batch_size=128"]).batch_size == 128
    with initialize_config_dir(config_dir=str(CONF)):
        grid = compose("config", ["experiment=batch_sizes"], return_hydra_config=True).hydra.sweeper.params
        search = compose("config", ["hparams_search=vgg16_tpe"], return_hydra_config=True).hydra.sweeper.params
    assert grid == {"batch_size": "16,32,64,128"}
    assert search["batch_size"] == "choice(32, 64, 128)"


def test_outputs_are_named_after_the_experiment_or_search():
    with initialize_config_dir(config_dir=str(CONF)):
        grid = compose("config", ["experiment=optimizers"], return_hydra_config=True).hydra
        search = compose("config", ["hparams_search=lr_pruning"], return_hydra_config=True).hydra
    assert grid.sweep.dir.startswith("multirun/optimizers/")
    assert search.sweep.dir.startswith("multirun/lr_pruning/") and search.sweeper.study_name == "lr_pruning"
    assert search.sweeper.storage == "sqlite:///multirun/lr_pruning/optuna.db"


EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_cell_of_every_comparison_grid_composes_and_validates(name):
    """Expand the grid's hydra.sweeper.params as the basic sweeper does; each cell must be valid."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    with initialize_config_dir(config_dir=str(CONF)):
        params = compose("config", [f"experiment={name}"], return_hydra_config=True).hydra.sweeper.params or {}
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
        axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] for o in parsed]
        cells = list(itertools.product(*axes))
        for cell in cells:
            cfg = compose("config", [f"experiment={name}", "data.dir=somewhere", *cell])
            validate(cfg)
    expected = {
        "overfitting": 3,
        "regularization": 15,
        "optimizers": 3,
        "schedulers": 4,
        "batch_sizes": 4,
        "study_final": 1,
    }
    assert len(cells) == expected[name]
