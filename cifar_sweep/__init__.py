"""cifar-sweep: Hydra-configured sweeps over the VGG-on-CIFAR-10 study."""

# The only Python targets a config may instantiate (Hydra 1.4's execution whitelist).
TRUSTED_TARGETS = ("torch.optim.*", "cifar_sweep.*")
