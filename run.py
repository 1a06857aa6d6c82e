"""Train one configuration of the study, in a checkout; the returned number is what a sweeper optimises.

    python run.py                                   the study's final recipe
    python run.py optimizer=rmsprop trainer.epochs=20
    python run.py -m experiment=optimizers seed=0,1,2

The same command as `cifar-sweep` once installed (cifar_sweep/cli.py).
"""

from cifar_sweep.cli import main

if __name__ == "__main__":
    main()
