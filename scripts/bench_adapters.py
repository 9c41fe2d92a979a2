"""zoo's LoRA / LoCon and FLoRA against HF peft's LoRA on torchvision's resnet18 (``pip install -e ".[bench]"``).

    python scripts/benchmark.py --models --comparisons adapters --threads 1 --repeats 9   # + peak memory
    python scripts/bench_adapters.py --threads 1 --rounds 9                                # timings alone

Sizes (``RESNET``): resnet18 (``weights=None``, 1000 classes), batch 16 × 3 × 64², rank 8 on all 21 ``Conv2d`` /
``Linear`` layers (20 convolutions and the head; the same 21 layers for every adapter, checked). The scales
match: peft's ``lora_alpha = r`` and zoo LoRA's ``alpha=None`` give α / r = 1, FLoRA's ``scale`` is 1. LoRA's
rank is 8 on every layer in both libraries; FLoRA's rank 8 is per mode, each clamped to its mode's size (a 3×3
kernel's modes keep rank 3, the stem's 3 input channels rank 3). Timed round by round (every adapter once per
round, so that load on a shared machine hits all three alike); the times are medians over the rounds, the ratios
medians of the per-round ratios (each round's adapters ran back to back, so a slow spell cancels):

* ``train``: forward + backward of ``out.square().mean()`` in training mode (the base frozen, batch norms updating);
* ``forward``: one forward in eval mode under ``no_grad``;
* ``merge``: ``merge_and_unload`` (zoo's and peft's) of a fresh copy of the adapted model.

Peak memory is ``benchmark.py``'s fresh-process measurement of one training forward + backward.
"""

from __future__ import annotations

import argparse
import copy
import statistics

import torch
from torch import nn

from bench_timing import timed

#: the sizes of the comparison
RESNET = {"batch": 16, "channels": 3, "size": 64, "rank": 8}
ADAPTERS = ("zoo-lora", "zoo-flora", "peft-lora")
TIMINGS = ("train", "forward", "merge")


def adapted_resnet(adapter: str) -> nn.Module:
    """resnet18 with ``adapter`` (one of ``ADAPTERS``) on its 21 Conv2d / Linear layers."""
    import torchvision

    from zoo.adapters import FLoRAConfig, LoRAConfig, adapter_layers, inject_adapters

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    targets = [name for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))]
    if adapter == "peft-lora":
        import peft
        from peft.tuners.lora import LoraLayer

        model = peft.get_peft_model(model, peft.LoraConfig(r=RESNET["rank"], lora_alpha=RESNET["rank"],
                                                           target_modules=targets))
        adapted = [name.removeprefix("base_model.model.") for name, module in model.named_modules()
                   if isinstance(module, LoraLayer)]
    else:
        config = LoRAConfig if adapter == "zoo-lora" else FLoRAConfig
        adapted = list(adapter_layers(inject_adapters(model, config(rank=RESNET["rank"], target_modules=targets))))
    if sorted(adapted) != sorted(targets) or len(targets) != 21:
        raise RuntimeError(f"{adapter} adapted {len(adapted)} layers, not resnet18's 21 Conv2d / Linear ones")
    return model


def example(device: str = "cpu") -> torch.Tensor:
    """The input batch ``(16, 3, 64, 64)``."""
    return torch.randn(RESNET["batch"], RESNET["channels"], RESNET["size"], RESNET["size"], device=device)


def build(adapter: str):
    """``build(device) -> (model, input)`` for ``benchmark.py``'s fresh-process measurement."""
    return lambda device: (adapted_resnet(adapter).to(device).train(), example(device))


def _merge(model: nn.Module) -> nn.Module:
    from zoo.adapters import merge_and_unload

    return model.merge_and_unload() if hasattr(model, "peft_config") else merge_and_unload(model)


def time_adapters(rounds: int, device: str = "cpu") -> dict[str, dict[str, list[float]]]:
    """Milliseconds of ``TIMINGS`` per adapter, one per round, over ``rounds`` rounds (after one warm-up round)."""
    models = {adapter: adapted_resnet(adapter).to(device) for adapter in ADAPTERS}
    x = example(device)

    def train(model):
        model.train()(x).square().mean().backward()

    def forward(model):
        with torch.no_grad():
            model.eval()(x)

    times = {adapter: {timing: [] for timing in TIMINGS} for adapter in ADAPTERS}
    for index in range(rounds + 1):
        for adapter, model in models.items():
            model.zero_grad(set_to_none=True)
            fresh = copy.deepcopy(model)
            measured = {"train": timed(lambda: train(model), device),
                        "forward": timed(lambda: forward(model), device),
                        "merge": timed(lambda: _merge(fresh), device)}
            for timing, ms in measured.items():
                if index:
                    times[adapter][timing].append(ms)
    return times


def ratios(times: dict[str, dict[str, list[float]]], peaks: dict[str, float] | None = None) -> dict[str, dict]:
    """Per zoo adapter: the median over rounds of peft's time over zoo's for every timing (above 1: zoo is faster)
    and zoo's peak memory over peft's (below 1: zoo needs less)."""
    report = {}
    for adapter in ADAPTERS[:2]:
        report[adapter] = {timing: statistics.median(peft / zoo for peft, zoo in zip(times["peft-lora"][timing],
                                                                                     times[adapter][timing]))
                           for timing in TIMINGS}
        if peaks:
            report[adapter]["peak_memory"] = peaks[adapter] / peaks["peft-lora"]
    return report


def print_report(times: dict[str, dict[str, list[float]]], peaks: dict[str, float] | None = None) -> dict:
    """Print the median milliseconds (and MiB) per adapter and the ratios; returns them as one dict."""
    medians = {adapter: {timing: statistics.median(values) for timing, values in per_timing.items()}
               for adapter, per_timing in times.items()}
    print(f"resnet18, batch {RESNET['batch']} × {RESNET['channels']} × {RESNET['size']}², rank {RESNET['rank']} "
          "on 21 layers (medians of interleaved rounds)")
    print(f"{'adapter':<12}" + "".join(f"{timing + ' ms':>12}" for timing in TIMINGS)
          + (f"{'peak MiB':>12}" if peaks else ""))
    for adapter in ADAPTERS:
        print(f"{adapter:<12}" + "".join(f"{medians[adapter][timing]:>12.1f}" for timing in TIMINGS)
              + (f"{peaks[adapter]:>12.1f}" if peaks else ""))
    report = ratios(times, peaks)
    for adapter, values in report.items():
        print(f"{adapter} vs peft-lora: " + ", ".join(
            f"{key} {value:.2f}x" for key, value in values.items()) + " (time: peft / zoo; memory: zoo / peft)")
    return {"size": RESNET, "ms": medians, "ms_per_round": times, "peak_mib": peaks, "ratios": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print_report(time_adapters(args.rounds, args.device))


if __name__ == "__main__":
    main()
