"""ResDMD residuals of a trained KVAE's latent dynamics (Naiman et al.'s Koopman VAE, checked with Colbrook et al.'s
residuals, ``zoo.analysis.koopman``).

    python train.py experiment=kvae_sines
    python scripts/koopman_kvae.py runs/kvae_sines/<time>/checkpoints/best.ckpt [--n 3000] [--out koopman_kvae.json]

The KVAE fits its Koopman matrix ``A`` (k, k) by least squares on prior rollouts (``z_{t+1} ≈ z_t A``, row
convention) and trains its prior to make them linear. Its eigenpairs ``A w = λ w`` are Koopman eigenfunctions
``g(z) = z w`` of the linear dictionary, so ``res(λ, g)`` on rollouts the fit never saw measures how well the
learned dynamics are linear. Rows:

* ``A`` on held-out prior rollouts, and on the posterior means of the run's test sequences;
* EDMD learned on ``n`` rollouts and checked on ``n`` others, in the linear and the degree-2 monomial dictionary;
* EDMD on the posterior means, learned on training sequences and checked on test sequences.

Residuals are relative (``‖Ψ_Y g − λ Ψ_X g‖ / ‖Ψ_X g‖``): 0 for an exact eigenpair, about 1 for none.
"""

from __future__ import annotations

import argparse
import json

import torch

from zoo import load_model
from zoo.analysis.koopman import dictionaries, latent_koopman_residuals, residual, snapshot_pairs
from zoo.checkpoint import read_checkpoint, run_config
from zoo.cli import rebuild, upgrade_run_config


def summary(eigvals: torch.Tensor, residuals: torch.Tensor) -> dict:
    return {"N": len(eigvals), "max_abs_eigenvalue": float(eigvals.abs().max()), "residual_min": float(residuals.min()),
            "residual_median": float(residuals.median()), "residual_max": float(residuals.max()),
            "residuals_at_most_0.1": int((residuals <= 0.1).sum())}


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--n", type=int, default=3000, help="rollouts (and training sequences) per set")
    parser.add_argument("--out", default="koopman_kvae.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_model(args.checkpoint)
    run = upgrade_run_config(run_config(read_checkpoint(args.checkpoint), args.checkpoint))
    datamodule = rebuild(run["data"])
    T = model.seq_len
    rollouts = [model.prior(args.n, T)[2].double() for _ in range(3)]  # fit set, EDMD training set, held-out set
    encoded = {split: model.posterior(datamodule.complete_sequences(split)[:args.n])[0].double()
               for split in ("train", "test")}
    A = model.koopman_matrix().double()
    eigvals, w = torch.linalg.eig(A)
    rows = {
        "A on held-out prior rollouts": summary(eigvals, residual(*snapshot_pairs(rollouts[2]), eigvals=eigvals,
                                                                  eigvecs=w)),
        "A on posterior means (test)": summary(eigvals, residual(*snapshot_pairs(encoded["test"]), eigvals=eigvals,
                                                                 eigvecs=w)),
        "EDMD, linear, rollouts": summary(*latent_koopman_residuals(rollouts[1], rollouts[2])[::2]),
        "EDMD, monomials <= 2, rollouts": summary(*latent_koopman_residuals(
            rollouts[1], rollouts[2], lambda z: dictionaries.monomials(z, 2))[::2]),
        "EDMD, linear, posterior means (train -> test)": summary(
            *latent_koopman_residuals(encoded["train"], encoded["test"])[::2]),
    }
    print(f"{'':<48}{'N':>5}{'max |λ|':>9}{'res min':>9}{'median':>9}{'max':>9}{'≤ 0.1':>7}")
    for name, row in rows.items():
        print(f"{name:<48}{row['N']:>5}{row['max_abs_eigenvalue']:>9.3f}{row['residual_min']:>9.3g}"
              f"{row['residual_median']:>9.3g}{row['residual_max']:>9.3g}{row['residuals_at_most_0.1']:>7}")
    with open(args.out, "w") as file:
        json.dump({"checkpoint": args.checkpoint, "n": args.n, "rows": rows}, file, indent=2)


if __name__ == "__main__":
    main()
