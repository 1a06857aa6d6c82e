"""cifar-sweep: Hydra-configured sweeps over the VGG-on-CIFAR-10 study, for any model and data."""

from cifar_sweep import sources as _sources  # noqa: F401  registers the ${images:...} config resolver

# The Python targets a config may instantiate through Hydra (its execution whitelist); a model's
# own `_target_` is checked by cifar_sweep.models.build_model.
TRUSTED_TARGETS = ("torch.optim.*", "cifar_sweep.*")
# The built-in networks' targets (cifar_sweep/conf/model/), named here without importing torch
VGG_TARGET = "cifar_sweep.models.VGG"
RESNET_TARGET = "cifar_sweep.models.ResNet"
