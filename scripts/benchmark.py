"""Forward+backward time and peak memory of every registered model; S4D's kernel against a naive baseline;
FNO / TFNO against neuraloperator 2.0 (``pip install -e ".[bench]"``); SPE batched against a per-graph loop and
the reference's padded layout.

    python scripts/benchmark.py                  # table on stdout, JSON in benchmark.json
    python scripts/benchmark.py --models s4d --repeats 5 --out results.json
    python scripts/benchmark.py --models spe_gine rqgnn --comparisons spe    # one family and its comparison
    python scripts/benchmark.py --models --comparisons adapters --threads 1 --repeats 9   # adapters vs peft only
    python scripts/benchmark.py --models --comparisons gaunt --threads 1 --repeats 5      # Gaunt vs e3nn only
    python scripts/benchmark.py --models --comparisons mace --threads 1 --repeats 10      # gaunt_mace vs cg_mace
    python scripts/benchmark.py --models --comparisons gp --threads 1 --repeats 5         # GP-HM: Kronecker vs dense
    python scripts/benchmark.py --models --comparisons eeg --threads 1 --repeats 5        # ACM features vs pyRiemann

Each measurement runs in a fresh process (``spawn``) so that peak memory is that process's own: on CUDA
``torch.cuda.max_memory_allocated``, on CPU the growth of the peak resident set size (``ru_maxrss``) over
the forward+backward pass, beyond what the built model and its input already held.

Sizes (documented, fixed): every model at its registry example shape scaled by ``SIZES`` below.
S4D side by side, in the same run: the layer's kernel + FFT convolution with zoo's chunked Vandermonde
autograd function versus a straightforward baseline that materialises the full ``(H, N/2, L)`` Vandermonde
matrix with one ``einsum`` (what the reference code does without its pykeops or CUDA kernels).
FNO / TFNO side by side with ``neuralop.models.FNO`` at the same configuration (``OPERATOR``: width 32, 4 layers,
the same 23 × 12 kept frequencies, lifting / projection ratio 2, channel-MLP expansion 0.5 with soft-gating,
linear skips, GELU, grid channels; TFNO: Tucker, rank 0.1, neuraloperator's default factorized contraction)
on 32² and 64² grids, batch 20: the ratio is neuraloperator's time over zoo's.
HVP (``--comparisons hvp``): one ``zoo.analysis.hvp`` (forward over reverse, in the model's float32) against one
forward+backward of the same loss, interleaved, for ``HVP_MODELS`` at their ``SIZES``: the ratio is HVP / fwd+bwd.
LightSB: the wall time of a whole 10k-step EOT-benchmark run (``scripts/bench_lightsb.py``: D = 16, K = 50, batch 128,
fresh samples every step, a plain torch loop). Models without a tensor input (``diffspectra``) are not in ``SIZES``.
SPE on a batch of 128 ZINC-sized graphs (``SPE_BATCH``: 9–38 nodes, about as many edges as nodes plus 8 %, the
full spectrum padded to 38): zoo's module (ρ on the packed real (node, column) pairs), against the same module
called once per graph in a Python loop (the reference code's way) and against the reference's padded layout
written here with the same weights (``_padded_spe``: every node's row of W padded to 38 columns, plain BatchNorm
over the padding, GIN sums by gather + ``index_add_``). Graph models read such graphs: 128 for ``spe_gine``,
512 (RQGNN's batch) for ``rqgnn``, ``gin_mean`` and ``rq_logistic``.
Adapters: zoo's LoRA and FLoRA against peft's LoRA on torchvision's resnet18 (``scripts/bench_adapters.py``): peak
memory here, the times round by round in one process, as ratios.
Gaunt (``--comparisons gaunt``, e3nn from ``pip install -e ".[equivariant]"``): ``zoo.equivariant.GauntTensorProduct(
L, L, L, channels=32)`` with ``method="fft"`` and ``method="grid"`` against e3nn's channel-wise full Clebsch–Gordan
product ``o3.TensorProduct`` (``"uuu"``, one weight per path) from ``32x0e+32x1o+...+32xL`` to both parities of every
degree ≤ L, over every path |l1 − l2| ≤ l3 ≤ min(l1 + l2, L) (the odd-sum paths, absent from a Gaunt product,
included), at batch 64 in float32 for L = 1..8 (``GAUNT``), each in its own layout ((64, 32, (L+1)²) for zoo,
(64, irreps.dim) for e3nn) of random inputs: a timing, not a numeric check. One process per L; the three run
round by round, interleaved, each round a forward+backward of ``out.square().mean()`` and one ``no_grad`` forward;
medians over the rounds, ratios e3nn / Gaunt. Measured on one CPU thread (2026-12-03, four runs at repeats 5 and 15
on a shared 2-core machine; the grid ratios agree within ~15 %, the FFT ones are noisier):
e3nn is faster at small L (few paths): it beats the grid layer at L = 1 (0.6x) and ties it at L = 2 (0.85-1.0x),
and the FFT layer up to L = 7 (0.2x at L = 1, 0.4-0.8x at L = 5..7). The grid layer overtakes at L = 3 (1.4x) and
pulls away (~4x at L = 5, ~10x at L = 8); the FFT layer only at L = 8, barely (1.1-1.2x in three runs, 0.55x in
one). e3nn grows with its ~L³ paths, each a dense Wigner-3j contraction, the Gaunt layers as O(L³) per channel,
the FFT one with a larger constant on CPU (complex einsums; its torus grid of 4L + 1 points is prime at L = 4 and
L = 7 (17, 29), likely the bumps there).
MACE (``--comparisons mace``): a training step (energy, forces by autograd, loss, double backward, Adam) of
``gaunt_mace`` (grid and FFT) against ``cg_mace`` on 16 ethanol geometries, lmax = 1..5 (``scripts/bench_mace.py``).
GP (``--comparisons gp``): a ``gp_hm`` objective step on an n × n grid with Kronecker algebra against the same step
on the dense n² × n² covariance (``scripts/bench_gp.py``).

EEG (``--comparisons eeg``, pyRiemann and MOABB from ``pip install -e ".[eeg]"``): ``acm_ts``'s reference fit and
tangent-space features of 400 trials against MOABB's ``AugmentedDataset`` + pyRiemann's ``Covariances("oas")`` +
``TangentSpace`` at orders 1, 4, 6 (``scripts/bench_eeg.py``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time

import torch

import bench_adapters
import bench_eeg
import bench_gp
import bench_mace
from bench_timing import interleaved_medians

#: per model: constructor kwargs and the (batch, length, channels) input of the benchmark
_SEQUENCE = {"d_input": 3, "d_output": 10, "d_model": 128, "n_layers": 4, "d_state": 64}
SIZES = {
    "s4d": (_SEQUENCE, (16, 1024, 3)),
    "s4_ptd": (_SEQUENCE, (16, 1024, 3)),
    "s5": ({**_SEQUENCE, "blocks": 4}, (16, 1024, 3)),
    "s5_ptd": ({**_SEQUENCE, "blocks": 4}, (16, 1024, 3)),
    "transformer": ({"d_input": 3, "d_output": 10, "d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 512},
                    (16, 1024, 3)),
    "fno": ({"width": 32, "modes": 12}, (20, 1, 64, 64)),
    "tfno": ({"width": 32, "modes": 12}, (20, 1, 64, 64)),
    "mg_tfno": ({"width": 32, "modes": 8, "levels": 1}, (20, 1, 64, 64)),
    "t1": ({"width": 48, "modes": [24, 24], "n_layers": 8, "resolution": [64, 64]}, (20, 1, 64, 64)),
    "lsm": ({"width": 32, "patch_size": 2}, (20, 1, 64, 64)),
    "lightsb": ({"dim": 16, "n_components": 50}, (128, 16)),  # forward: the conditional mean E[x1 | x0]
    "kvae": ({}, (64, 24, 5)),                                 # forward: the training loss on a sines-sized batch
    "specformer": ({}, (32, 3501)),                            # forward: IR spectra to the condition vector
}
#: SPE: a batch of ZINC-sized random graphs and the SPE module's sizes
SPE_BATCH = {"graphs": 128, "n_min": 9, "n_max": 38, "m": 8, "p": 16, "rho_hidden": 32, "rho_layers": 3}
#: graph models: constructor kwargs, the label count and the number of the ``SPE_BATCH``-sized graphs they read
#: (each paper's batch: 128 for SPE on ZINC, 512 for RQGNN and its baselines)
GRAPH_SIZES = {
    "spe_gine": ({"in_dim": 16, "out_dim": 1, "width": 38, "hidden": 64, "n_layers": 4}, 16, 128),
    "rqgnn": ({"in_channels": 16}, 16, 512),
    "rq_logistic": ({"in_channels": 16}, 16, 512),
    "gin_mean": ({"in_channels": 16}, 16, 512),
}
#: FNO / TFNO against neuraloperator: shared sizes, and the grids (batch 20, one input and output channel)
OPERATOR = {"width": 32, "modes": 12, "n_layers": 4, "grids": (32, 64), "batch": 20}
#: S4D layer comparison: H channels, N state size, L length, B batch (sCIFAR-sized layer)
S4D_LAYER = {"H": 128, "N": 64, "L": 4096, "B": 8}


#: Gaunt tensor product against e3nn's channel-wise full CG product: degrees L (lmax of both inputs and the output)
GAUNT = {"lmax": tuple(range(1, 9)), "channels": 32, "batch": 64}
GAUNT_METHODS = ("fft", "grid", "e3nn")

#: models whose Hessian-vector product (zoo.analysis.hvp, in the model's float32) is timed against one forward+backward
HVP_MODELS = ("s4d", "fno", "transformer")
#: side-by-side comparisons: the measurements each one runs
COMPARISONS = {
    "s4d": [("s4d_layer", "zoo"), ("s4d_layer", "naive")],
    "spe": [("spe", "batched"), ("spe", "padded"), ("spe", "loop")],
    "operators": [("operator", f"{model}/{library}/{grid}") for model in ("fno", "tfno") for grid in OPERATOR["grids"]
                  for library in ("zoo", "neuralop")],
    "lightsb": [("lightsb_run", "10k")],
    "hvp": [("hvp", name) for name in HVP_MODELS],
    "adapters": [("adapter", name) for name in bench_adapters.ADAPTERS] + [("adapter_rounds", "interleaved")],
    "gaunt": [("gaunt", str(lmax)) for lmax in GAUNT["lmax"]],
    "mace": [("mace", str(lmax)) for lmax in bench_mace.MACE_SIZE["lmax"]],
    "gp": [("gp_hm", str(n)) for n in bench_gp.GP_HM_SIZE["n"]],
    "eeg": [("acm", str(order)) for order in bench_eeg.EEG_SIZE["orders"]],
}


def _peak_bytes(device: str) -> int:
    if device == "cuda":
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure(build, device: str, repeats: int) -> dict:
    """Build ``(fn, inputs)``, warm up once, then time ``repeats`` forward+backward passes."""
    torch.manual_seed(0)
    fn, inputs = build(device)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = _peak_bytes(device)
    fn(inputs).square().mean().backward()
    peak = _peak_bytes(device) - (before if device == "cpu" else 0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(inputs).square().mean().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"ms": 1000 * sorted(times)[len(times) // 2], "peak_mib": peak / 2**20}


def _model(name: str):
    import zoo

    kwargs, shape = SIZES[name]

    def build(device):
        model = zoo.create_model(name, **kwargs).to(device)
        return model, torch.randn(*shape, device=device)

    return build


def _s4d_layer(naive: bool):
    from zoo.ssm import S4DLayer

    H, N, L, B = (S4D_LAYER[key] for key in "HNLB")

    def build(device):
        layer = S4DLayer(H, N).to(device)
        if naive:  # the full Vandermonde matrix exp(ℓ log Ā) of shape (H, N/2, L), in one einsum
            kernel = layer.kernel

            def full_vandermonde(length: int) -> torch.Tensor:
                log_dA, dB = kernel._log_discretize()
                ell = torch.arange(length, device=log_dA.device, dtype=log_dA.real.dtype)
                W = 2 * torch.view_as_complex(kernel.C) * dB
                return torch.einsum("chn,hnl->chl", W, torch.exp(log_dA.unsqueeze(-1) * ell)).real

            kernel.forward = full_vandermonde
        return layer, torch.randn(B, L, H, device=device)

    return build


def _operator(name: str, library: str, grid: int):
    """``name`` (fno or tfno) from ``library`` (zoo or neuralop) at the ``OPERATOR`` sizes on a ``grid²`` input."""
    width, modes, n_layers = OPERATOR["width"], OPERATOR["modes"], OPERATOR["n_layers"]

    def build(device):
        if library == "zoo":
            import zoo

            model = zoo.create_model(name, in_channels=1, out_channels=1, width=width, modes=modes, n_layers=n_layers)
        else:
            from neuralop.models import FNO

            tucker = {"factorization": "tucker", "rank": 0.1} if name == "tfno" else {}
            # neuralop keeps a centred block of n_modes[0] rows and n_modes[-1] // 2 + 1 rfft columns: 23 × 12
            model = FNO(n_modes=(2 * modes - 1, 2 * modes - 2), in_channels=1, out_channels=1, hidden_channels=width,
                        n_layers=n_layers, **tucker)
        return model.to(device), torch.randn(OPERATOR["batch"], 1, grid, grid, device=device)

    return build


def _graphs(n_features: int, count: int = SPE_BATCH["graphs"]) -> list:
    """``count`` ZINC-sized random graphs with one-hot labels ``x [n, n_features]`` and eigenpairs."""
    import networkx as nx
    from torch_geometric.data import Data

    from zoo.functional import LaplacianEigenpairs

    generator, transform, graphs = torch.Generator().manual_seed(0), LaplacianEigenpairs(width=SPE_BATCH["n_max"]), []
    for index in range(count):
        n = int(torch.randint(SPE_BATCH["n_min"], SPE_BATCH["n_max"] + 1, (), generator=generator))
        graph = nx.gnm_random_graph(n, round(1.08 * n), seed=index)
        pairs = torch.tensor(list(graph.edges()), dtype=torch.long).view(-1, 2).T
        labels = torch.randint(n_features, (n,), generator=generator)
        graphs.append(transform(Data(x=torch.nn.functional.one_hot(labels, n_features).float(),
                                     edge_index=torch.cat([pairs, pairs.flip(0)], 1), num_nodes=n)))
    return graphs


def _graph_model(name: str):
    import zoo
    from torch_geometric.data import Batch

    kwargs, n_features, count = GRAPH_SIZES[name]

    def build(device):
        return zoo.create_model(name, **kwargs).to(device), Batch.from_data_list(_graphs(n_features, count)).to(device)

    return build


def _padded_spe(spe, eigvals, eigvecs, edge_index, batch):
    """The reference's layout (Graph-COM/SPE) with ``spe``'s weights: W ``[num_nodes, n_max, m]`` padded to n_max
    columns for every node, plain BatchNorm over every entry, padding included (φ over padded eigenvalues, ρ over
    padded columns), GIN sums by gather + ``index_add_``, a masked sum over the real columns at the end. W is built
    by zoo's einsum, so the comparison is ρ's layout."""
    from torch_geometric.utils import to_dense_batch

    z = torch.stack([phi(eigvals[..., None])[..., 0] for phi in spe.phi], -1)  # [B, d, m]
    V, node_mask = to_dense_batch(eigvecs, batch, batch_size=eigvals.size(0))
    h = torch.einsum("bid,bdm,bjd->bijm", V, z, V)[node_mask]
    source, target = edge_index
    for index, layer in enumerate(spe.rho):
        h = layer.mlp((1 + layer.eps) * h + torch.zeros_like(h).index_add_(0, target, h[source]))
        h = torch.relu(h) if index < len(spe.rho) - 1 else h
    return (h * node_mask[batch][..., None]).sum(1)


def _spe(layout: str):
    """SPE forward on ``SPE_BATCH`` graphs: zoo's module batched (``batched``) or one graph at a time (``loop``),
    or the reference's padded layout (``padded``)."""
    from torch_geometric.data import Batch

    from zoo.graph import SPE

    sizes = {key: value for key, value in SPE_BATCH.items() if key not in ("graphs", "n_min", "n_max")}

    def build(device):
        graphs, spe = _graphs(1), SPE(**sizes).to(device)
        if layout == "loop":
            singles = [graph.to(device) for graph in graphs]
            return (lambda items: torch.cat([spe(g.eigvals, g.eigvecs, g.edge_index,
                                                 torch.zeros(g.num_nodes, dtype=torch.long, device=device))
                                             for g in items])), singles
        forward = spe if layout == "batched" else lambda *args: _padded_spe(spe, *args)
        batch = Batch.from_data_list(graphs).to(device)
        return (lambda b: forward(b.eigvals, b.eigvecs, b.edge_index, b.batch)), batch

    return build


def _hvp_ratio(name: str, device: str, repeats: int) -> dict:
    """Median ms of one forward+backward of ``out.square().mean()`` and of one ``zoo.analysis.hvp`` of the same loss
    at the ``SIZES`` input, interleaved; ``ratio`` = HVP / forward+backward."""
    from zoo.analysis import hvp

    model, x = _model(name)(device)
    data = [(x, torch.zeros(len(x), device=device))]
    v = torch.randn(sum(p.numel() for p in model.parameters()), device=device)

    def loss(output, _):
        return output.square().mean()

    def step():
        model(x).square().mean().backward()

    medians = interleaved_medians({"fwd_bwd_ms": step, "hvp_ms": lambda: hvp(model, loss, data, v, dtype=None)},
                                  repeats, device)
    return {**medians, "ratio": medians["hvp_ms"] / medians["fwd_bwd_ms"], "ms": float("nan"),
            "peak_mib": float("nan")}


def _e3nn_full_tp(lmax: int, channels: int):
    """e3nn's channel-wise full CG product: ``channels`` copies of every degree ≤ lmax (parity (−1)^l) in each
    input, to both parities of every degree ≤ lmax, one ``"uuu"`` path per allowed (l1, l2, l3, parity)."""
    from e3nn import o3

    irreps_in = o3.Irreps([(channels, (l, (-1) ** l)) for l in range(lmax + 1)])
    irreps_out = o3.Irreps([(channels, (l, p)) for l in range(lmax + 1) for p in (1, -1)])
    instructions = [(i1, i2, i_out, "uuu", True) for i1, (_, ir1) in enumerate(irreps_in)
                    for i2, (_, ir2) in enumerate(irreps_in) for i_out, (_, ir_out) in enumerate(irreps_out)
                    if ir_out in ir1 * ir2]
    return o3.TensorProduct(irreps_in, irreps_in, irreps_out, instructions), irreps_in.dim


def _gaunt_rounds(lmax: int, device: str, repeats: int) -> dict:
    """Median ms of a forward+backward (``<method>_ms``) and of a ``no_grad`` forward (``<method>_fwd_ms``) of the
    Gaunt product by FFT and on the grid and of e3nn's full CG product at degree ``lmax``, interleaved round by round;
    ``ratio_fft`` / ``ratio_grid`` = e3nn / Gaunt forward+backward time."""
    from zoo.equivariant import GauntTensorProduct

    torch.manual_seed(0)
    channels, batch = GAUNT["channels"], GAUNT["batch"]
    e3nn_tp, dim = _e3nn_full_tp(lmax, channels)
    layers = {method: GauntTensorProduct(lmax, lmax, lmax, channels=channels, method=method).to(device)
              for method in ("fft", "grid")}
    layers["e3nn"] = e3nn_tp.to(device)
    shapes = {"fft": (batch, channels, (lmax + 1) ** 2), "grid": (batch, channels, (lmax + 1) ** 2),
              "e3nn": (batch, dim)}
    inputs = {method: (torch.randn(*shape, device=device), torch.randn(*shape, device=device))
              for method, shape in shapes.items()}

    def train(method):
        layers[method](*inputs[method]).square().mean().backward()

    @torch.no_grad()
    def forward(method):
        layers[method](*inputs[method])

    functions = {}
    for method in GAUNT_METHODS:  # per round: each method's forward+backward, then its forward
        functions[f"{method}_ms"] = lambda method=method: train(method)
        functions[f"{method}_fwd_ms"] = lambda method=method: forward(method)
    medians = interleaved_medians(functions, repeats, device)
    return {**medians, "ratio_fft": medians["e3nn_ms"] / medians["fft_ms"],
            "ratio_grid": medians["e3nn_ms"] / medians["grid_ms"], "ms": float("nan"), "peak_mib": float("nan")}


def _job(args: tuple) -> dict:
    kind, name, device, repeats, threads = args
    torch.set_num_threads(threads)
    if kind == "lightsb_run":  # the paper's EOT run: 10k Adam steps, D = 16, K = 50, batch 128 (bench_lightsb.py)
        from bench_lightsb import bench_lightsb

        return {"seconds": bench_lightsb()["seconds"], "ms": float("nan"), "peak_mib": float("nan")}
    if kind == "adapter_rounds":  # train, forward, merge of every adapter, round by round (bench_adapters.py)
        return {"rounds": bench_adapters.time_adapters(repeats, device), "ms": float("nan"), "peak_mib": float("nan")}
    if kind == "hvp":
        return _hvp_ratio(name, device, repeats)
    if kind == "gaunt":
        return _gaunt_rounds(int(name), device, repeats)
    if kind == "mace":
        return bench_mace.time_mace(int(name), device, repeats)
    if kind == "gp_hm":
        return bench_gp.time_gp_hm(int(name), device, repeats)
    if kind == "acm":
        return bench_eeg.time_acm(int(name), device, repeats)
    if kind == "model":
        build = _graph_model(name) if name in GRAPH_SIZES else _model(name)
    elif kind == "adapter":
        build = bench_adapters.build(name)
    elif kind == "s4d_layer":
        build = _s4d_layer(naive=name == "naive")
    elif kind == "spe":
        build = _spe(layout=name)
    else:
        model, library, grid = name.split("/")
        build = _operator(model, library, int(grid))
    return _measure(build, device, repeats)


def main() -> None:
    import zoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=[name for name in zoo.list_models()
                                                        if name in SIZES or name in GRAPH_SIZES])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", default="benchmark.json")
    parser.add_argument("--comparisons", nargs="*", default=list(COMPARISONS), choices=list(COMPARISONS),
                        help="side-by-side comparisons to run (default: all)")
    args = parser.parse_args()

    missing = [name for name in args.models if name not in SIZES and name not in GRAPH_SIZES]
    if missing:
        raise SystemExit(f"no benchmark size for {missing}: add them to SIZES in {__file__}")
    jobs = [("model", name) for name in args.models]
    jobs += [(kind, name) for comparison in args.comparisons for kind, name in COMPARISONS[comparison]]
    context = mp.get_context("spawn")
    results = {}
    for kind, name in jobs:  # one fresh process per measurement: clean peak memory
        with context.Pool(1) as pool:
            results[f"{kind}:{name}"] = pool.apply(_job, ((kind, name, args.device, args.repeats, args.threads),))
    report = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or platform.machine(),
        "threads": args.threads,
        "torch": torch.__version__,
        "sizes": {name: SIZES.get(name, GRAPH_SIZES.get(name)) for name in args.models},
        "results": results,
    }
    print(f"{'measurement':<30}{'fwd+bwd ms':>12}{'peak MiB':>12}")
    for key, value in results.items():
        print(f"{key:<30}{value['ms']:>12.1f}{value['peak_mib']:>12.1f}")
    if "s4d" in args.comparisons:
        ours, naive = results["s4d_layer:zoo"], results["s4d_layer:naive"]
        report["s4d_layer_size"] = S4D_LAYER
        report["s4d_vs_naive"] = {"time_ratio": naive["ms"] / ours["ms"],
                                  "memory_ratio": naive["peak_mib"] / ours["peak_mib"]}
        print(f"S4D layer (H={S4D_LAYER['H']}, N={S4D_LAYER['N']}, L={S4D_LAYER['L']}, batch={S4D_LAYER['B']}): naive / "
              f"zoo time {report['s4d_vs_naive']['time_ratio']:.2f}x, peak memory "
              f"{report['s4d_vs_naive']['memory_ratio']:.2f}x")
    if "spe" in args.comparisons:
        batched = results["spe:batched"]
        report["spe_size"] = SPE_BATCH
        for other in ("padded", "loop"):
            ratios = {key: results[f"spe:{other}"][key] / batched[key] for key in ("ms", "peak_mib")}
            report[f"spe_{other}_vs_batched"] = {"time_ratio": ratios["ms"], "memory_ratio": ratios["peak_mib"]}
            print(f"SPE on {SPE_BATCH['graphs']} ZINC-sized graphs: {other} / zoo batched time {ratios['ms']:.2f}x, "
                  f"peak memory {ratios['peak_mib']:.2f}x")
    if "adapters" in args.comparisons:
        report["adapters"] = bench_adapters.print_report(results["adapter_rounds:interleaved"]["rounds"], {
            adapter: results[f"adapter:{adapter}"]["peak_mib"] for adapter in bench_adapters.ADAPTERS})
    if "hvp" in args.comparisons:
        report["hvp_vs_fwd_bwd"] = {name: results[f"hvp:{name}"]["ratio"] for name in HVP_MODELS}
        for name in HVP_MODELS:
            result = results[f"hvp:{name}"]
            print(f"{name}: HVP {result['hvp_ms']:.1f} ms, forward+backward {result['fwd_bwd_ms']:.1f} ms, "
                  f"ratio {result['ratio']:.2f}")
    if "gaunt" in args.comparisons:
        report["gaunt_size"] = GAUNT
        report["gaunt"] = {lmax: results[f"gaunt:{lmax}"] for lmax in GAUNT["lmax"]}
        print(f"Gaunt tensor product vs e3nn's full CG product (batch {GAUNT['batch']}, {GAUNT['channels']} channels, "
              f"float32), ms forward+backward (forward):")
        print(f"{'L':>3}" + "".join(f"{method:>18}" for method in GAUNT_METHODS)
              + f"{'e3nn/fft':>10}{'e3nn/grid':>10}")
        for lmax, result in report["gaunt"].items():
            print(f"{lmax:>3}" + "".join(f"{result[f'{method}_ms']:>9.2f} ({result[f'{method}_fwd_ms']:>6.2f})"
                                         for method in GAUNT_METHODS)
                  + f"{result['ratio_fft']:>9.2f}x{result['ratio_grid']:>9.2f}x")
    if "mace" in args.comparisons:
        report["mace_size"] = bench_mace.MACE_SIZE
        report["mace"] = bench_mace.print_report({lmax: results[f"mace:{lmax}"]
                                                  for lmax in bench_mace.MACE_SIZE["lmax"]})
    if "gp" in args.comparisons:
        report["gp_hm_size"] = bench_gp.GP_HM_SIZE
        report["gp_hm"] = bench_gp.print_report({n: results[f"gp_hm:{n}"] for n in bench_gp.GP_HM_SIZE["n"]})
    if "eeg" in args.comparisons:
        report["eeg_size"] = bench_eeg.EEG_SIZE
        report["acm"] = bench_eeg.print_report({order: results[f"acm:{order}"] for order in bench_eeg.EEG_SIZE["orders"]})
    if "lightsb" in args.comparisons:
        report["lightsb_10k_steps_seconds"] = results["lightsb_run:10k"]["seconds"]
        print(f"LightSB, 10k steps at D=16, K=50, batch 128 ({args.threads} threads): "
              f"{report['lightsb_10k_steps_seconds']:.1f} s")
    if "operators" in args.comparisons:
        report["operator_size"] = OPERATOR
        report["neuralop_vs_zoo"] = {f"{model}/{grid}": results[f"operator:{model}/neuralop/{grid}"]["ms"]
                                     / results[f"operator:{model}/zoo/{grid}"]["ms"]
                                     for model in ("fno", "tfno") for grid in OPERATOR["grids"]}
        for key, value in report["neuralop_vs_zoo"].items():
            print(f"{key} (batch {OPERATOR['batch']}): neuraloperator / zoo time {value:.2f}x")
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
