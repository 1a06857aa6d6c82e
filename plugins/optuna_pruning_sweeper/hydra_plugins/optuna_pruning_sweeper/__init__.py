"""The optuna_pruning Hydra sweeper (hydra/sweeper=optuna_pruning). Only configs and the plugin class
live here, so Hydra's plugin scan imports no Optuna; the sweep itself is in optuna_pruning_sweeper."""
