"""cifar-sweep's Hydra launchers: hydra/launcher=slurm (slurm.py)."""
