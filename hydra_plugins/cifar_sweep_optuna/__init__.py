"""cifar-sweep's Hydra sweeper: hydra-optuna-sweeper with pruning, a study-wide trial budget and
recovery of interrupted trials. Select it with hydra/sweeper=optuna_pruning."""
