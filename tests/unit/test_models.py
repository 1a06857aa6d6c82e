import pytest
import torch

from cifar_sweep.models import VGG, count_params

STANDARD_CIFAR_VGG = {"vgg11": 9_231_114, "vgg13": 9_416_010, "vgg16": 14_728_266, "vgg19": 20_040_522}


@pytest.mark.parametrize("name,params", STANDARD_CIFAR_VGG.items())
def test_parameter_counts_equal_the_standard_cifar_vggs(name, params):
    assert count_params(VGG(name)) == params


def test_study_shape_five_pools_one_linear():
    model = VGG("vgg16", width=0.125, dropout=0.5)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 5
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 64 and linears[0].out_features == 10
    assert model.dropout.p == 0.5
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)


def test_narrow_net_is_about_eight_times_cheaper():
    wide, narrow = count_params(VGG("vgg16")), count_params(VGG("vgg16", width=0.125))
    assert 40 < wide / narrow < 80  # conv params scale with width^2
