"""Sample-quality scores for generated time series, as TimeGAN defines them and KoVAE reports them.

Both take real and generated sequences ``(n, T, d)`` (the same ``T`` and ``d``, values in [0, 1]) and train a
small post-hoc GRU (hidden size ``max(d // 2, 1)``, Adam, batches of ``batch_size``) for a fixed number of
iterations, seeded:

- **discriminative score**: real and generated sequences are each split 80 / 20; a 1-layer GRU with a linear
  head on its last state learns to tell them apart (binary cross-entropy, one batch of each per iteration);
  the score is ``|accuracy - 0.5|`` on the held-out 20 % (0 = indistinguishable, 0.5 = always told apart).
- **predictive score** (train on synthetic, test on real): a GRU with a sigmoid head reads the first
  ``d - 1`` features up to step ``t`` and predicts feature ``d`` at ``t + 1``, trained (mean absolute error) on
  the generated sequences only; the score is its mean absolute error on all real sequences.

The papers use 2000 and 5000 iterations at batch 128 and average the discriminative score over 10 repeats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _GRUHead(nn.Module):
    """``(n, T, c)`` -> GRU (hidden ``h``) -> linear -> ``(n, T, out)``."""

    def __init__(self, channels: int, hidden: int, out: int):
        super().__init__()
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, out)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.gru(x)[0])


def _check(real: Tensor, fake: Tensor, name: str) -> tuple[Tensor, Tensor]:
    real, fake = torch.as_tensor(real).float().cpu(), torch.as_tensor(fake).float().cpu()
    if real.dim() != 3 or fake.dim() != 3 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"{name} needs real and generated sequences (n, T, d) of the same T and d, got "
                         f"{tuple(real.shape)} and {tuple(fake.shape)}")
    if not (torch.isfinite(real).all() and torch.isfinite(fake).all()):
        raise ValueError(f"{name}: the sequences contain NaN or inf")
    return real, fake


def _batch(data: Tensor, size: int, generator: torch.Generator) -> Tensor:
    return data[torch.randint(len(data), (size,), generator=generator)]


def discriminative_scores(real: Tensor, fake: Tensor, iterations: int = 2000, batch_size: int = 128,
                          seed: int = 0, repeats: int = 10) -> list[float]:
    """``|acc - 0.5|`` of ``repeats`` post-hoc GRU classifiers (each its own split and initialisation, seeds
    ``seed``, ``seed + 1``, ...) on held-out real vs generated sequences ``(n, T, d)``; the papers report the mean
    and standard deviation of 10."""
    real, fake = _check(real, fake, "discriminative_score")
    if min(len(real), len(fake)) < 2:
        raise ValueError(f"discriminative_score needs at least 2 sequences of each kind (one to train on, one to "
                         f"test), got {len(real)} and {len(fake)}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    return [_discriminate(real, fake, iterations, batch_size, seed + repeat) for repeat in range(repeats)]


def discriminative_score(real: Tensor, fake: Tensor, iterations: int = 2000, batch_size: int = 128,
                         seed: int = 0, repeats: int = 1) -> float:
    """The mean of :func:`discriminative_scores` over ``repeats`` classifiers."""
    scores = discriminative_scores(real, fake, iterations, batch_size, seed, repeats)
    return sum(scores) / len(scores)


def _discriminate(real: Tensor, fake: Tensor, iterations: int, batch_size: int, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    parts = []
    for data in (real, fake):
        order = torch.randperm(len(data), generator=generator)
        cut = min(max(int(0.8 * len(data)), 1), len(data) - 1)
        parts.append((data[order[:cut]], data[order[cut:]]))
    (real_train, real_test), (fake_train, fake_test) = parts
    classifier = _GRUHead(real.shape[-1], max(real.shape[-1] // 2, 1), 1)
    optimizer = torch.optim.Adam(classifier.parameters())
    for _ in range(iterations):
        x = torch.cat([_batch(real_train, batch_size, generator), _batch(fake_train, batch_size, generator)])
        y = torch.cat([torch.ones(batch_size), torch.zeros(batch_size)])
        loss = F.binary_cross_entropy_with_logits(classifier(x)[:, -1, 0], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.random.set_rng_state(torch_state)
    with torch.no_grad():
        correct = (classifier(real_test)[:, -1, 0] > 0).sum() + (classifier(fake_test)[:, -1, 0] <= 0).sum()
    return abs(float(correct) / (len(real_test) + len(fake_test)) - 0.5)


def predictive_score(real: Tensor, fake: Tensor, iterations: int = 5000, batch_size: int = 128,
                     seed: int = 0) -> float:
    """MAE on real sequences of a GRU trained on generated ones to predict ``x[t+1, d-1]`` from ``x[≤t, :d-1]``."""
    real, fake = _check(real, fake, "predictive_score")
    if real.shape[-1] < 2:
        raise ValueError(f"predictive_score predicts the last feature from the others: it needs d >= 2 features, "
                         f"got {real.shape[-1]}")
    generator = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    d = real.shape[-1]
    predictor = _GRUHead(d - 1, max(d // 2, 1), 1)
    optimizer = torch.optim.Adam(predictor.parameters())
    for _ in range(iterations):
        x = _batch(fake, batch_size, generator)
        loss = (torch.sigmoid(predictor(x[:, :-1, :-1])) - x[:, 1:, -1:]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.random.set_rng_state(torch_state)
    with torch.no_grad():
        return float((torch.sigmoid(predictor(real[:, :-1, :-1])) - real[:, 1:, -1:]).abs().mean())
