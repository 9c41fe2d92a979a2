"""Hessian tools for any ``nn.Module``: "Empirical Analysis of the Hessian of Over-Parametrized Neural Networks"
(Sagun, Evci, Güney, Dauphin, Bottou, 2017).

The object is the full-data loss over the selected parameters ``w`` (M,) (the others held fixed)::

    L(w) = (1/N) Σ_i ℓ(f(w, x_i), y_i) = Σ_b (N_b / N) loss_fn(f(w, X_b), Y_b),      H = ∇²L (M × M),

with ``loss_fn`` a batch mean and ``N_b`` the size of batch ``b``: batch Hessians are weighted by ``N_b / N``, never
averaged as spectra. The generalised Gauss–Newton split ``H = G + R``::

    G = (1/N) Σ_i J_iᵀ ∇²_f ℓ_i J_i           (PSD for ℓ convex in f; J_i = ∂f(w, x_i)/∂w)
    R = (1/N) Σ_i Σ_c (∂ℓ_i/∂f_c) ∇²_w f_c    (0 for a model linear in w)

(softmax cross-entropy: ∇²_f ℓ = diag p − ppᵀ).

Products, all by ``torch.func`` on a copy of the parameters in ``dtype`` (float64 by default) through
``functional_call``, so the user's model is never modified: ``H v = jvp(grad L)(w; v)`` (forward over reverse),
``G v = Jᵀ (∇²_f loss_fn)(J v)`` (``jvp`` through ``f``, ``jvp`` of the output gradient of ``loss_fn``, ``vjp``
back through ``f``). The model runs in eval mode (dropout and BatchNorm statistics off); every submodule's mode
is restored afterwards. ``scaled_dot_product_attention`` runs through its math backend inside (its fused kernels
have no forward-mode derivative), so attention models work too.

Spectra: ``exact`` builds the matrix from M products (vmapped over the columns of I) and calls ``eigvalsh``;
``lanczos`` gives the top k by ARPACK's restarted Lanczos (``scipy.sparse.linalg.eigsh`` on a LinearOperator);
``slq`` gives a density by stochastic Lanczos quadrature (``zoo.analysis.lanczos``).

The flat vector ``w`` (and every ``v``) stacks the selected parameters in ``model.named_parameters()`` order, each
flattened row-major. ``params``: ``None`` selects every parameter that requires grad; a list selects those names;
a string is a regular expression matched with ``re.search`` against the names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp, vjp, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from zoo.analysis.lanczos import SpectralDensity, slq
from zoo.modes import evaluating

LossFn = Callable[[Tensor, Tensor], Tensor]
Params = Sequence[str] | str | None
METHODS = ("exact", "lanczos", "slq")
#: the keyword options of hessian_spectrum / gauss_newton_spectrum and their defaults
OPTIONS = {"which": "LA", "tol": 0.0, "n_probe": 10, "m": 80, "sigma": None, "n_grid": 1000, "seed": 0,
           "chunk_size": 32}


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """``model.eval()`` and attention's math backend inside; every submodule's own ``training`` flag restored on
    exit."""
    with evaluating(model), sdpa_kernel(SDPBackend.MATH):
        yield


def _cast(t, dtype: torch.dtype | None, device: torch.device):
    """A floating tensor in ``dtype`` on ``device``; other tensors only moved; anything else unchanged."""
    if not isinstance(t, Tensor):
        return t
    return t.detach().to(device=device, dtype=dtype if dtype is not None and t.is_floating_point() else t.dtype)


def _state(model: nn.Module, dtype: torch.dtype | None) -> dict[str, Tensor]:
    """Parameters and buffers of ``model`` by name, detached, floating ones in ``dtype``."""
    named = [*model.named_parameters(), *model.named_buffers()]
    if any(t.is_complex() for _, t in named):
        raise TypeError("complex parameters or buffers are not supported: store them as real views "
                        "(torch.view_as_real) and rebuild them in forward with torch.view_as_complex")
    return {name: _cast(t, dtype, t.device) for name, t in named}


def _select(model: nn.Module, params: Params) -> list[str]:
    """Names of the selected parameters, in ``named_parameters()`` order."""
    names = [name for name, _ in model.named_parameters()]
    if params is None:
        chosen = [name for name, p in model.named_parameters() if p.requires_grad]
    elif isinstance(params, str):
        chosen = [name for name in names if re.search(params, name)]
    else:
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"params: unknown parameter names {unknown}; {_listing(names)}")
        chosen = [name for name in names if name in set(params)]
    if not chosen:
        raise ValueError(f"params={params!r} selects no parameter; pass names or a regex matching some of "
                         f"{_listing(names)}")
    return chosen


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
    return f"the model has: {shown or 'no parameters'}"


def _batches(data: Iterable, dtype: torch.dtype | None, device: torch.device) -> list[tuple]:
    """The batches of ``data`` as ``(input, target, N_b)`` on ``device``, floating tensors in ``dtype``."""
    batches = []
    for batch in data:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], Tensor)
                and batch[1].ndim >= 1):
            raise TypeError(f"data must yield (input, target) pairs with a target tensor of shape (batch, ...), "
                            f"got {type(batch).__name__}; wrap a tensor dataset as [(X, Y)] or a DataLoader")
        x, y = batch
        batches.append((_cast(x, dtype, device), _cast(y, dtype, device), y.shape[0]))
    if not batches:
        raise ValueError("data yielded no batch: pass a non-empty iterable of (input, target) batches, e.g. [(X, Y)]")
    return batches


class _Objective:
    """``L(w)`` of the module docstring over the selected parameters ``w`` (M,), with its products ``H v``, ``G v``.
    Built from ``data`` once; the model is only read."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, data: Iterable, params: Params,
                 dtype: torch.dtype | None) -> None:
        self.model, self.loss_fn = model, loss_fn
        state = _state(model, dtype)
        self.names = _select(model, params)
        self.shapes = [state[name].shape for name in self.names]
        self.fixed = {name: t for name, t in state.items() if name not in self.names}
        self.w = torch.cat([state[name].reshape(-1) for name in self.names])
        self.batches = _batches(data, dtype, self.w.device)
        self.N = sum(n for _, _, n in self.batches)
        x, y, _ = self.batches[0]
        with torch.no_grad():
            loss = loss_fn(functional_call(model, state, (x,)), y)
        if not (isinstance(loss, Tensor) and loss.ndim == 0):
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn(output, target) must return a scalar tensor (the batch mean), got {shape}; "
                             "use reduction='mean' or end the loss with .mean()")

    @property
    def M(self) -> int:
        return self.w.numel()

    def state(self, w: Tensor) -> dict[str, Tensor]:
        """Every parameter and buffer by name, the selected ones taken from ``w`` (M,)."""
        chunks = torch.split(w, [math.prod(shape) for shape in self.shapes])
        return {**self.fixed, **{name: c.view(shape) for name, c, shape in zip(self.names, chunks, self.shapes)}}

    def _output(self, w: Tensor, x) -> Tensor:
        return functional_call(self.model, self.state(w), (x,))

    def _batch_loss(self, w: Tensor, x, y: Tensor) -> Tensor:
        return self.loss_fn(self._output(w, x), y)

    def loss(self, state: dict[str, Tensor]) -> Tensor:
        """``L`` at a full ``state`` (every parameter and buffer by name)."""
        return sum(n / self.N * self.loss_fn(functional_call(self.model, state, (x,)), y) for x, y, n in self.batches)

    def hvp(self, v: Tensor) -> Tensor:
        """``H v``, ``v`` (M,) -> (M,)."""
        return sum(n / self.N * jvp(lambda w: grad(self._batch_loss)(w, x, y), (self.w,), (v,))[1]
                   for x, y, n in self.batches)

    def gnvp(self, v: Tensor) -> Tensor:
        """``G v``, ``v`` (M,) -> (M,)."""
        total = 0
        for x, y, n in self.batches:
            output, Jv = jvp(lambda w: self._output(w, x), (self.w,), (v,))
            HJv = jvp(lambda f: grad(self.loss_fn)(f, y), (output,), (Jv,))[1]
            _, pullback = vjp(lambda w: self._output(w, x), self.w)
            total = total + n / self.N * pullback(HJv)[0]
        return total

    def matrix(self, product: Callable[[Tensor], Tensor], chunk_size: int | None) -> Tensor:
        """The dense (M, M) matrix of a symmetric ``product``, symmetrised by ``(A + Aᵀ)/2``."""
        A = vmap(product, chunk_size=chunk_size)(torch.eye(self.M, dtype=self.w.dtype, device=self.w.device))
        return (A + A.T) / 2

    def check_vector(self, v: Tensor) -> Tensor:
        if not isinstance(v, Tensor) or v.shape != (self.M,):
            shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(f"v must be a tensor of shape (M,) = ({self.M},) over the selected parameters "
                             f"{self.names[:4]}{'…' if len(self.names) > 4 else ''}, got {shape}")
        return v.to(dtype=self.w.dtype, device=self.w.device)


def hvp(model: nn.Module, loss_fn: LossFn, data: Iterable, v: Tensor, *, params: Params = None,
        dtype: torch.dtype | None = torch.float64) -> Tensor:
    """``H v`` (M,) of the full-data loss for ``v`` (M,) over the selected parameters (module docstring)."""
    with _evaluating(model):
        objective = _Objective(model, loss_fn, data, params, dtype)
        return objective.hvp(objective.check_vector(v))


def gnvp(model: nn.Module, loss_fn: LossFn, data: Iterable, v: Tensor, *, params: Params = None,
         dtype: torch.dtype | None = torch.float64) -> Tensor:
    """``G v`` (M,): the generalised Gauss–Newton product of the full-data loss for ``v`` (M,)."""
    with _evaluating(model):
        objective = _Objective(model, loss_fn, data, params, dtype)
        return objective.gnvp(objective.check_vector(v))


def hessian_matrix(model: nn.Module, loss_fn: LossFn, data: Iterable, *, params: Params = None,
                   dtype: torch.dtype | None = torch.float64, chunk_size: int | None = 32) -> Tensor:
    """The dense ``H`` (M, M) from M Hessian-vector products, ``chunk_size`` of them vmapped at a time."""
    with _evaluating(model):
        objective = _Objective(model, loss_fn, data, params, dtype)
        return objective.matrix(objective.hvp, chunk_size)


def gauss_newton_matrix(model: nn.Module, loss_fn: LossFn, data: Iterable, *, params: Params = None,
                        dtype: torch.dtype | None = torch.float64, chunk_size: int | None = 32) -> Tensor:
    """The dense ``G`` (M, M) from M GGN-vector products."""
    with _evaluating(model):
        objective = _Objective(model, loss_fn, data, params, dtype)
        return objective.matrix(objective.gnvp, chunk_size)


def _spectrum(curvature: str, model: nn.Module, loss_fn: LossFn, data: Iterable, method: str, k: int,
              params: Params, dtype: torch.dtype | None, options: dict) -> Tensor | SpectralDensity:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; choose one of {METHODS}")
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown keyword option(s) {unknown}; the spectra take {sorted(OPTIONS)}")
    options = {**OPTIONS, **options}
    with _evaluating(model):
        objective = _Objective(model, loss_fn, data, params, dtype)
        product = objective.hvp if curvature == "H" else objective.gnvp
        if method == "exact":
            return torch.linalg.eigvalsh(objective.matrix(product, options["chunk_size"])).flip(0)
        if method == "lanczos":
            return _eigsh(product, objective.M, k, which=options["which"], tol=options["tol"], seed=options["seed"],
                          like=objective.w)
        return slq(product, objective.M, n_probe=options["n_probe"], m=options["m"], sigma=options["sigma"],
                   n_grid=options["n_grid"], seed=options["seed"], dtype=objective.w.dtype, device=objective.w.device)


def _eigsh(product: Callable[[Tensor], Tensor], M: int, k: int, *, which: str, tol: float, seed: int,
           like: Tensor) -> Tensor:
    """k eigenvalues (descending) of the operator ``product`` on ``R^M`` by ARPACK (``which``: LA, SA or LM)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    if not 1 <= k < M:
        raise ValueError(f"k={k} must satisfy 1 ≤ k < M = {M} for method='lanczos'; use method='exact' for all "
                         "M eigenvalues or select fewer parameters with params=")
    if which not in ("LA", "SA", "LM"):
        raise ValueError(f"which={which!r} is unknown; choose 'LA' (largest), 'SA' (smallest) or 'LM' (magnitude)")

    def matvec(x):
        return product(torch.from_numpy(x.reshape(-1)).to(like)).double().cpu().numpy()

    v0 = torch.randn(M, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()
    values = eigsh(LinearOperator((M, M), matvec=matvec, dtype="float64"), k=k, which=which, tol=tol, v0=v0,
                   return_eigenvectors=False)
    return torch.from_numpy(values.copy()).sort(descending=True).values.to(like.dtype)


def hessian_spectrum(model: nn.Module, loss_fn: LossFn, data: Iterable, method: str = "exact", k: int = 20,
                     params: Params = None, dtype: torch.dtype | None = torch.float64,
                     **options) -> Tensor | SpectralDensity:
    """Eigenvalues of ``H`` of the full-data loss over the selected parameters.

    ``method="exact"``: all M, descending, from the dense matrix (``chunk_size=32`` products vmapped at a time);
    ``"lanczos"``: the ``k`` extreme ones, descending (``which="LA"`` largest, ``"SA"`` smallest, ``"LM"`` largest
    magnitude), by ``scipy.sparse.linalg.eigsh`` to relative tolerance ``tol=0`` (machine precision) from a start
    vector drawn with ``seed=0``; ``"slq"``: a :class:`SpectralDensity` from ``n_probe=10`` × ``m=80`` Lanczos steps,
    broadened by ``sigma`` on ``n_grid=1000`` points (``zoo.analysis.lanczos.slq``). ``dtype=None`` keeps the
    model's own dtype. The keyword ``options`` are those named here."""
    return _spectrum("H", model, loss_fn, data, method, k, params, dtype, options)


def gauss_newton_spectrum(model: nn.Module, loss_fn: LossFn, data: Iterable, method: str = "exact", k: int = 20,
                          params: Params = None, dtype: torch.dtype | None = torch.float64,
                          **options) -> Tensor | SpectralDensity:
    """Eigenvalues of the generalised Gauss–Newton matrix ``G``; arguments as :func:`hessian_spectrum`."""
    return _spectrum("G", model, loss_fn, data, method, k, params, dtype, options)


def interpolate_loss(model_a: nn.Module, model_b: nn.Module, loss_fn: LossFn, data: Iterable,
                     alphas: Sequence[float] | Tensor, *, dtype: torch.dtype | None = torch.float64) -> Tensor:
    """``L((1−α) w_a + α w_b)`` (len(alphas),): the full-data loss on the segment between two models of one
    architecture. Every floating parameter and buffer is interpolated (BatchNorm statistics too); integer buffers
    are model_a's. The forward pass is model_a's, in eval mode."""
    with _evaluating(model_a):
        objective = _Objective(model_a, loss_fn, data, None, dtype)
        a, b = _state(model_a, dtype), _state(model_b, dtype)
        if {name: t.shape for name, t in a.items()} != {name: t.shape for name, t in b.items()}:
            raise ValueError("model_a and model_b must have the same parameter and buffer names and shapes "
                             "(two trainings of one architecture)")
        return torch.stack([objective.loss({name: torch.lerp(t, b[name].to(t.device), float(alpha))
                                            if t.is_floating_point() else t for name, t in a.items()})
                            for alpha in alphas])


def outlier_count(eigs: Tensor, *, floor: float = 1e-3) -> int:
    """Number of outlier eigenvalues above the bulk, by the largest gap in the log spectrum.

    Rule: the candidates are the eigenvalues ``λ_1 ≥ … ≥ λ_n ≥ floor · λ_max`` (the rest, negative ones
    included, is the bulk at 0: the same threshold as the bulk fraction ``|λ| < floor · λ_max``); with
    ``λ_{n+1} := floor · λ_max``, the count is the ``i`` (1 ≤ i ≤ n) that maximises ``log λ_i − log λ_{i+1}``:
    the outliers end at the spectrum's largest relative drop. 0 if ``λ_max ≤ 0``. ``eigs``: (M,), any order.
    Where no bulk sits at 0 (at initialisation) the largest drop may be the last one, to the floor, and the
    count is then most of the spectrum.
    """
    values = eigs.detach().double().flatten().sort(descending=True).values
    if values.numel() == 0 or values[0] <= 0:
        return 0
    edge = floor * values[0]
    logs = torch.log(torch.cat([values[values >= edge], edge.reshape(1)]))
    return int(torch.argmax(logs[:-1] - logs[1:])) + 1
