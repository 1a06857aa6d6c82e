"""cifar-sweep's Hydra launchers: hydra/launcher=fused (fused.py) and hydra/launcher=slurm
(slurm.py, configured by cifar_sweep/conf/hydra/launcher/slurm.yaml)."""
