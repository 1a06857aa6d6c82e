"""One rule for what a config may build (cifar_sweep/targets.py): classes of the key's kind from anywhere,
functions of the user's own code, library functions the config trusts; nothing else is called."""

from __future__ import annotations

import textwrap

import pytest
import torch
from omegaconf import OmegaConf

from cifar_sweep.errors import UserError
from cifar_sweep.models import build_model
from cifar_sweep.optim import build_optimizer
from cifar_sweep.targets import trust_of

from helpers import compose_cfg

TIMM = pytest.importorskip("timm", reason="pip install -e '.[timm]'")


@pytest.fixture
def own_package(tmp_path, monkeypatch):
    """A package of the user's own, as pytorch-cifar's models/: a factory function and a class with a
    block given by config."""
    package = tmp_path / "cifar_models"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Net(nn.Module):
                def __init__(self, num_classes=10, block=None, norm=None):
                    super().__init__()
                    self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), norm(8) if norm else nn.Identity(),
                                              block if block is not None else nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                              nn.Flatten())
                    self.head = nn.Linear(8, num_classes)

                def forward(self, x):
                    return self.head(self.body(x))

            def ResNet18(num_classes=10):
                return Net(num_classes)

            def not_a_network():
                return 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cifar_models"


def test_a_factory_function_of_your_own_code_is_taken_like_a_class(own_package):
    model = build_model(OmegaConf.create({"_target_": f"{own_package}.ResNet18", "num_classes": 7}))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(UserError, match=rf"model._target_='{own_package}.not_a_network': returned a int"):
        build_model(OmegaConf.create({"_target_": f"{own_package}.not_a_network"}))


def test_nested_targets_build_as_parts_of_the_model(own_package):
    node = {
        "_target_": f"{own_package}.Net",
        "block": {"_target_": "torch.nn.GELU"},
        "norm": {"_target_": "torch.nn.BatchNorm2d", "_partial_": True},
    }
    model = build_model(OmegaConf.create(node))
    assert isinstance(model.body[2], torch.nn.GELU) and isinstance(model.body[1], torch.nn.BatchNorm2d)
    tv = {"_target_": "torchvision.models.resnet18", "norm_layer": {"_target_": "torch.nn.Identity", "_partial_": True}}
    assert build_model(OmegaConf.create(tv), trust_of(compose_cfg())).bn1.__class__ is torch.nn.Identity
    bad = {**node, "block": {"_target_": "os.getcwd"}}
    with pytest.raises(UserError, match="model.block._target_='os.getcwd': is not an nn.Module subclass"):
        build_model(OmegaConf.create(bad))


@pytest.mark.parametrize("name", ["test_resnet", "test_efficientnet"])
def test_timm_networks_build_through_the_trusted_create_model(name):
    cfg = compose_cfg(["model=timm", f"model.model_name={name}", "data=synthetic", "data.num_classes=5"])
    model = build_model(cfg.model, trust_of(cfg))
    assert type(model).__module__.startswith("timm.") and model.eval()(torch.zeros(2, 3, 32, 48)).shape == (2, 5)
    with pytest.raises(UserError, match=r"add 'timm.create_model' \(or 'timm.\*'\) to its top-level `trust` list"):
        build_model(cfg.model, trust=())


def test_an_optimizer_from_another_library_builds():
    cfg = compose_cfg(["optimizer._target_=timm.optim.Lamb", "~optimizer.weight_decay"])
    model = torch.nn.Linear(3, 2)
    optimizer = build_optimizer(cfg.optimizer, model, torch.device("cpu"), trust_of(cfg))
    assert type(optimizer).__name__ == "Lamb"
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()


@pytest.mark.parametrize(
    "key,target,expected",
    [
        ("model", "numpy.load", "model._target_='numpy.load': is not an nn.Module subclass, and a function of"),
        ("optimizer", "torch.optim.lr_scheduler.StepLR", "is not a torch.optim.Optimizer subclass; name one"),
        ("optimizer", "subprocess.run", "optimizer._target_='subprocess.run': is not a torch.optim.Optimizer"),
    ],
)
def test_anything_else_is_one_line_and_never_called(key, target, expected):
    cfg = compose_cfg([f"{key}._target_={target}"])
    with pytest.raises(UserError) as err:
        if key == "model":
            build_model(cfg.model, trust_of(cfg))
        else:
            build_optimizer(cfg.optimizer, torch.nn.Linear(1, 1), torch.device("cpu"), trust_of(cfg))
    assert expected in str(err.value) and "\n" not in str(err.value)
