"""Test a checkpoint: ``python eval.py ckpt_path=<run>/checkpoints/best.ckpt``; writes ``metrics.json``."""

from zoo.cli import eval_main

if __name__ == "__main__":
    eval_main()
