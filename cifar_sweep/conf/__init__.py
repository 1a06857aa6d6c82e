"""The configs of cifar-sweep (Hydra config groups), packaged so that the installed command finds them."""
