"""Every experiment for a few steps on a CUDA GPU (``trainer=gpu``, bf16-mixed): the loss must stay finite and
the GPU must have been used. Writes a JSON summary (``--out``); ``scripts/gpu_check.sh`` runs it and then the
benchmark at its sizes on the GPU. Sized for under 8 minutes on one H100.

    python scripts/gpu_check.py --out gpu_check.json [--experiments s4d_seq_digits fno_darcy]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from zoo.cli import CONFIG_DIR, train

#: a few steps of every experiment: small generated sets, 5 training batches, 2 of validation and test
STEPS = ["trainer=gpu", "trainer.max_epochs=1", "+trainer.limit_train_batches=5", "+trainer.limit_val_batches=2",
         "+trainer.limit_test_batches=2", "logger=none", "callbacks=progress"]


def experiments() -> list[str]:
    return sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def check(experiment: str, folder: Path) -> dict:
    """Run ``experiment`` for a few GPU steps; its step time, peak GPU memory and whether the loss stayed finite."""
    overrides = [f"experiment={experiment}", *STEPS, f"paths.output_dir={folder / experiment}",
                 f"paths.data_dir={folder / 'data'}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
        if "n_train" in cfg.data:
            cfg = compose("train", overrides=[*overrides, "data.n_train=64", "data.n_val=16", "data.n_test=16"])
        if "pool_size" in cfg.data:
            cfg = compose("train", overrides=[*overrides, "data.pool_size=400"])
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        summary = train(cfg)
    except Exception as err:  # one failing experiment must not hide the others
        return {"ok": False, "error": f"{type(err).__name__}: {err}"[:500]}
    losses = {key: value for key, value in summary["metrics"].items() if key.endswith("loss")}
    return {
        "ok": all(math.isfinite(value) for value in losses.values()) and torch.cuda.max_memory_allocated() > 0,
        "losses": losses,
        "seconds": round(time.perf_counter() - start, 2),
        "step_seconds": round(summary["fit_seconds"] / max(summary["global_step"], 1), 4),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="*", default=experiments())
    parser.add_argument("--out", default="gpu_check.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check needs a CUDA device (torch.cuda.is_available() is False)")
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: check(name, Path(tmp)) for name in args.experiments}
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "experiments": results,
              "all_ok": all(result["ok"] for result in results.values())}
    Path(args.out).write_text(json.dumps(report, indent=2))
    for name, result in results.items():
        print(f"{name:<28} {'ok' if result['ok'] else 'FAILED':<7} {result.get('step_seconds', result.get('error'))}")
    raise SystemExit(0 if report["all_ok"] else 1)


if __name__ == "__main__":
    main()
