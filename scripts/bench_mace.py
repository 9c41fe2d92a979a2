"""Training-step time of ``gaunt_mace`` (grid and FFT Gaunt products) against ``cg_mace`` (e3nn), for
``scripts/benchmark.py --comparisons mace``.

One step is what the potential task does: the energy of a batch of 16 ethanol geometries (the starting geometry of
``zoo.data.md``, jittered by 0.1 Å), the forces by autograd with ``create_graph``, MACE's loss and its backward
(a double backward through every product), and an Adam step. Sizes (``MACE_SIZE``): the configs' defaults
(K = 32 channels, 2 layers, correlation 3, hidden degree 1) at ``lmax`` = 1..5. The three models run round by round,
interleaved; medians over the rounds; ``ratio_grid`` / ``ratio_fft`` = cg_mace / gaunt_mace time.
"""

from __future__ import annotations

import torch

from bench_timing import interleaved_medians

MACE_SIZE = {"lmax": (1, 2, 3, 4, 5), "channels": 32, "molecules": 16}
MACE_VARIANTS = {"grid": ("gaunt_mace", {"method": "grid"}), "fft": ("gaunt_mace", {"method": "fft"}),
                 "cg": ("cg_mace", {})}


def ethanol_batch(molecules: int, device: str):
    from torch_geometric.data import Batch, Data

    from zoo.data.md.dynamics import MOLECULES

    generator = torch.Generator().manual_seed(0)
    ethanol = MOLECULES["ethanol"]
    z, pos = torch.tensor(ethanol.numbers), torch.tensor(ethanol.positions)
    frames = [Data(pos=pos + 0.1 * torch.randn(pos.shape, generator=generator), z=z, energy=torch.zeros(1),
                   forces=torch.zeros_like(pos)) for _ in range(molecules)]
    return Batch.from_data_list(frames).to(device)


def time_mace(lmax: int, device: str, repeats: int) -> dict:
    """Median ms of a training step of every variant at degree ``lmax`` and their parameter counts."""
    import zoo
    from zoo.functional import energy_and_forces

    torch.manual_seed(0)
    batch = ethanol_batch(MACE_SIZE["molecules"], device)
    models = {key: zoo.create_model(name, lmax=lmax, channels=MACE_SIZE["channels"], **kwargs).to(device)
              for key, (name, kwargs) in MACE_VARIANTS.items()}
    optimizers = {key: torch.optim.Adam(model.parameters()) for key, model in models.items()}

    def step(key: str) -> None:
        energy, forces = energy_and_forces(models[key], batch.clone(), create_graph=True)
        loss = (energy / 9).square().mean() + 100 * forces.square().mean()
        optimizers[key].zero_grad()
        loss.backward()
        optimizers[key].step()

    medians = {f"{key}_ms": ms for key, ms in interleaved_medians(
        {key: lambda key=key: step(key) for key in MACE_VARIANTS}, repeats, device).items()}
    return {**medians, **{f"{key}_params": sum(p.numel() for p in model.parameters()) for key, model in models.items()},
            "ratio_grid": medians["cg_ms"] / medians["grid_ms"], "ratio_fft": medians["cg_ms"] / medians["fft_ms"],
            "ms": float("nan"), "peak_mib": float("nan")}


def print_report(results: dict) -> dict:
    print(f"MACE training step ({MACE_SIZE['molecules']} ethanol, K = {MACE_SIZE['channels']}): ms per step "
          "(parameters)")
    print(f"{'lmax':>4}" + "".join(f"{key:>20}" for key in MACE_VARIANTS) + f"{'cg/grid':>9}{'cg/fft':>9}")
    for lmax, result in results.items():
        print(f"{lmax:>4}" + "".join(f"{result[f'{key}_ms']:>10.1f} ({result[f'{key}_params']:>6})"
                                     for key in MACE_VARIANTS)
              + f"{result['ratio_grid']:>8.2f}x{result['ratio_fft']:>8.2f}x")
    return results
