"""The built-in networks, and what build_model accepts and refuses."""

import re

import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from cifar_sweep.errors import UserError
from cifar_sweep.models import VGG, ResNet, build_model, check_output, count_params, logits_of

STANDARD_CIFAR_VGG = {"vgg11": 9_231_114, "vgg13": 9_416_010, "vgg16": 14_728_266, "vgg19": 20_040_522}


@pytest.mark.parametrize("name,params", STANDARD_CIFAR_VGG.items())
def test_parameter_counts_equal_the_standard_cifar_vggs(name, params):
    assert count_params(VGG(name)) == params


def test_resnet18_has_the_standard_cifar_count_and_a_width():
    assert count_params(ResNet()) == 11_173_962
    assert 10 < count_params(ResNet()) / count_params(ResNet(width=0.25)) < 20  # conv params scale with width^2


def test_study_shape_five_pools_one_linear():
    model = VGG("vgg16", width=0.125, dropout=0.5)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 5
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 64 and linears[0].out_features == 10
    assert model.dropout.p == 0.5
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)


@pytest.mark.parametrize("network", [VGG, ResNet])
@pytest.mark.parametrize("channels,size,classes", [(1, 28, 5), (3, 64, 100), (3, 20, 2)])
def test_networks_take_any_square_size_and_channel_count(network, channels, size, classes):
    model = network(width=0.125, num_classes=classes, in_channels=channels)
    assert model.eval()(torch.randn(2, channels, size, size)).shape == (2, classes)


def test_narrow_net_is_about_eight_times_cheaper():
    wide, narrow = count_params(VGG("vgg16")), count_params(VGG("vgg16", width=0.125))
    assert 40 < wide / narrow < 80  # conv params scale with width^2


@pytest.mark.parametrize(
    "node,expected",
    [
        ({"_target_": "nowhere_pkg.Net"}, "model._target_='nowhere_pkg.Net': cannot import it (ModuleNotFoundError"),
        ({"_target_": "cifar_sweep.models.count_params"}, "is not an nn.Module subclass"),
        ({"_target_": "os.system", "command": "true"}, "model._target_='os.system': is not an nn.Module subclass"),
        ({"_target_": "cifar_sweep.models.VGG", "depth": 3}, "model: cifar_sweep.models.VGG refuses these arguments ("),
    ],
)
def test_a_bad_model_target_is_one_line_and_nothing_is_called(node, expected):
    with pytest.raises(UserError) as err:
        build_model(OmegaConf.create(node))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_network_with_the_wrong_output_is_refused_before_it_trains():
    wrong_classes = OmegaConf.create({"_target_": "cifar_sweep.models.VGG", "width": 0.125, "num_classes": 10})
    with pytest.raises(UserError, match=r"outputs shape \(2, 10\) for a batch of 2; expected \(2, 5\)"):
        check_output(wrong_classes, channels=3, image_size=32, num_classes=5)
    wrong_channels = OmegaConf.create({"_target_": "cifar_sweep.models.VGG", "width": 0.125, "in_channels": 3})
    with pytest.raises(UserError, match="fails on a batch of 1x28x28 images"):
        check_output(wrong_channels, channels=1, image_size=28, num_classes=10)


def test_checking_a_network_draws_nothing_from_torchs_generator():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    check_output(OmegaConf.create({"_target_": "cifar_sweep.models.ResNet", "width": 0.25}), 3, 32, 10)
    check_output(OmegaConf.create({"_target_": "cifar_sweep.models.VGG", "width": 0.25, "dropout": 0.5}), 3, 32, 10)
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("size", [(32, 48), (64, 64), (28, 28)])
@pytest.mark.parametrize("network", ["vgg", "resnet"])
def test_the_built_in_networks_take_any_image_size(network, size):
    model = VGG("vgg16", width=0.125, num_classes=7) if network == "vgg" else ResNet(width=0.125, num_classes=7)
    assert model.eval()(torch.zeros(2, 3, *size)).shape == (2, 7)
    check_output(
        OmegaConf.create({"_target_": f"cifar_sweep.models.{type(model).__name__}", "width": 0.125}),
        channels=3,
        image_size=list(size),
        num_classes=10,
    )


class TupleNet(torch.nn.Module):
    """(logits, features), as many research networks return."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.head = torch.nn.Linear(3, num_classes)

    def forward(self, x):
        features = x.mean((2, 3))
        return self.head(features), features


class DictNet(TupleNet):
    def __init__(self, key: str = "logits", num_classes: int = 10) -> None:
        super().__init__(num_classes)
        self.key = key

    def forward(self, x):
        return {self.key: self.head(x.mean((2, 3)))}


class ModeNet(TupleNet):
    """A tensor in evaluation mode, something else in training mode (as torchvision's GoogLeNet does)."""

    def forward(self, x):
        logits = self.head(x.mean((2, 3)))
        return [None, logits] if self.training else logits


def node(cls, **kwargs):
    return OmegaConf.create({"_target_": f"{__name__}.{cls.__name__}", **kwargs})


def test_the_logits_are_the_tensor_its_logits_or_a_tuples_first_item():
    logits = torch.zeros(2, 10)
    assert logits_of(logits) is logits and logits_of((logits, 1)) is logits and logits_of([logits]) is logits
    assert logits_of({"logits": logits, "aux": 0}) is logits
    outputs = torchvision.models.GoogLeNetOutputs(logits, torch.ones(2, 10), torch.ones(2, 10))
    assert logits_of(outputs) is logits  # a namedtuple with `logits`, the auxiliary heads left out
    for output, said in [
        ({"out": logits}, "returns a dict with keys ['out']"),
        ((), "returns a tuple of 0 ()"),
        (["text", logits], "returns a list of 2 (str, Tensor)"),
        (None, "returns a NoneType"),
    ]:
        with pytest.raises(UserError, match=re.escape(said) + "; expected a tensor of shape"):
            logits_of(output)


def test_outputs_the_rule_covers_pass_the_check_in_both_modes():
    check_output(node(TupleNet), 3, 32, 10)
    check_output(node(DictNet), 3, 32, 10)
    check_output(OmegaConf.create({"_target_": "torchvision.models.GoogLeNet", "init_weights": False}), 3, 32, 1000)


def test_an_output_the_rule_does_not_cover_is_one_line_naming_the_mode_and_what_it_returned():
    with pytest.raises(UserError) as err:
        check_output(node(DictNet, key="out"), 3, 32, 10)
    assert str(err.value) == (
        f"model: {__name__}.DictNet in training mode returns a dict with keys ['out']; expected a tensor of "
        "shape (batch, num_classes), an output with `logits` (a key or an attribute), or a tuple whose first "
        "item is that tensor"
    )
    with pytest.raises(UserError, match=r"ModeNet in training mode returns a list of 2 \(NoneType, Tensor\)"):
        check_output(node(ModeNet), 3, 32, 10)
    with pytest.raises(UserError, match=r"outputs shape \(2, 5\) for a batch of 2; expected \(2, 10\)"):
        check_output(node(TupleNet, num_classes=5), 3, 32, 10)
