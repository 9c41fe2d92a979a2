"""Train a zoo model: ``python train.py experiment=s4d_seq_digits model.d_state=32``; ``--help`` lists the config groups."""

from zoo.cli import train_main

if __name__ == "__main__":
    train_main()
