"""Every `_target_` in cifar_sweep/conf/ builds: the object each config names exists and accepts its arguments."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cifar_sweep import TRUSTED_TARGETS
from cifar_sweep.models import build_model
from cifar_sweep.optim import build_optimizer, build_schedule
from cifar_sweep.targets import trust_of

from helpers import CONF, compose_cfg, write_idx_dataset


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_file_with_a_target_is_covered_below():
    with_targets = {str(p.relative_to(CONF)) for p in CONF.rglob("*.yaml") if "_target_:" in p.read_text()}
    covered = (
        {f"optimizer/{o}.yaml" for o in options("optimizer")}
        | {f"scheduler/{o}.yaml" for o in options("scheduler")}
        | {f"hparams_search/{o}.yaml" for o in options("hparams_search")}
        | {f"model/{o}.yaml" for o in options("model")}
        | {"hydra/default.yaml", "data/torchvision.yaml"}
    )
    assert with_targets <= covered


@pytest.mark.parametrize("option", options("model"))
def test_model_builds_for_the_data_and_outputs_one_logit_per_class(option):
    cfg = compose_cfg([f"model={option}", "data=synthetic", "data.num_classes=7"])
    model = build_model(cfg.model, trust_of(cfg))
    assert isinstance(model, torch.nn.Module)
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("option", options("optimizer"))
def test_optimizer_builds(option):
    model = torch.nn.Linear(4, 2)
    optimizer = build_optimizer(compose_cfg([f"optimizer={option}"]).optimizer, model, torch.device("cpu"))
    assert isinstance(optimizer, torch.optim.Optimizer)
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()  # the arguments are valid for a real step, not only for the constructor


@pytest.mark.parametrize("option", options("scheduler"))
def test_scheduler_builds_and_steps(option):
    cfg = compose_cfg([f"scheduler={option}", "trainer.epochs=3"])
    optimizer = build_optimizer(cfg.optimizer, torch.nn.Linear(4, 2), torch.device("cpu"))
    schedule = build_schedule(cfg.scheduler, optimizer, steps_per_epoch=5)
    row = {"val_loss": 1.0, "val_acc": 0.5}
    for _ in range(3):
        for _ in range(5):
            optimizer.step()
            schedule.after_step()
        schedule.after_epoch(row)
    lr = optimizer.param_groups[0]["lr"]
    assert 0 <= lr <= cfg.optimizer.lr  # cosine reaches 0 at T_max; none of them raises the rate


@pytest.mark.parametrize("option", options("hparams_search"))
def test_search_sampler_builds(option):
    with initialize_config_dir(config_dir=str(CONF)):
        hydra_cfg = compose("config", [f"hparams_search={option}"], return_hydra_config=True).hydra
    sampler = instantiate(hydra_cfg.sweeper.sampler, _execution_whitelist_=("optuna.samplers.*",))
    assert type(sampler).__name__ == OmegaConf.select(hydra_cfg, "sweeper.sampler._target_").rsplit(".", 1)[1]


def test_hydra_callbacks_build():
    with initialize_config_dir(config_dir=str(CONF)):
        hydra_cfg = compose("config", [], return_hydra_config=True).hydra
    from hydra.experimental.callback import Callback

    for name, node in hydra_cfg.callbacks.items():
        callback = instantiate(node, _execution_whitelist_=TRUSTED_TARGETS)
        assert isinstance(callback, Callback), name
        assert f"{type(callback).__module__}.{type(callback).__name__}" == node._target_, name


def test_the_torchvision_data_config_builds_its_dataset(tmp_path):
    from cifar_sweep.images import dataset

    cfg = compose_cfg(["data=torchvision", f"data.dataset.root={write_idx_dataset(tmp_path)}"])
    train, test = dataset(cfg.data, "train"), dataset(cfg.data, "test")
    assert type(train).__name__ == "FashionMNIST" and (len(train), len(test)) == (60, 20)
