"""|G(iω)| of the full HiPPO-LegS system, S4D-LegS and PTD (n = 32), and their errors against LegS.

    python scripts/transfer_plot.py --out transfer.png      # needs matplotlib

One random real C (``--seed``). Top: |G(iω)| of the three systems; bottom: |G − G_LegS| / sup_ω |G_LegS|, with
S4D-LegS's largest |Im λ| marked: its error spikes there, PTD's stays below 1 (``zoo.ssm.transfer``).
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from zoo.ssm.hippo import legs_normal  # noqa: E402
from zoo.ssm.transfer import (  # noqa: E402
    legs_transfer_function,
    normalised_error,
    ptd_modes,
    s4d_legs_modes,
    transfer_function,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--n", type=int, default=32, help="HiPPO size (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random C")
    parser.add_argument("--omega-max", type=float, default=2000.0)
    args = parser.parse_args()

    n, omega = args.n, np.linspace(0.0, args.omega_max, int(20 * args.omega_max) + 1)  # step 0.05
    C = np.random.default_rng(args.seed).standard_normal(n)
    G_legs = legs_transfer_function(C, omega, n)
    G = {
        "S4D-LegS": transfer_function(s4d_legs_modes(C, n), omega),
        "PTD": transfer_function(ptd_modes(C, n), omega, conj_pairs=False),
    }

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    top.semilogy(omega, np.abs(G_legs), "k", lw=1.5, label="S4-LegS (full)")
    for (name, G_name), colour in zip(G.items(), ("tab:red", "tab:blue")):
        error = normalised_error(G_name, G_legs)
        top.semilogy(omega, np.abs(G_name), color=colour, lw=0.8, label=name)
        bottom.semilogy(omega, np.abs(G_name - G_legs) / np.abs(G_legs).max(), color=colour, lw=0.8,
                        label=f"{name}: sup = {error:.3g}")
        print(f"{name}: sup_ω |G − G_LegS| / sup_ω |G_LegS| = {error:.4g}")
    for freq in np.sort(np.abs(legs_normal(n)[0].imag))[-2:]:
        bottom.axvline(freq, color="tab:red", ls=":", lw=0.8)
    top.set_ylabel("|G(iω)|")
    bottom.set_ylabel("|G − G_LegS| / sup |G_LegS|")
    bottom.set_ylim(1e-5, None)  # S4D-LegS's error vanishes at ω = 0: G(0) = C_0 exactly
    bottom.set_xlabel("ω")
    top.set_title(f"Transfer functions, HiPPO size n = {n}, one random C (seed {args.seed})")
    top.legend()
    bottom.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
