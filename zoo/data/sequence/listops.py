"""ListOps from the Long Range Arena (Tay et al., 2021), generated offline by our own generator.

**The task.** Read a nested list expression and output its value, a digit 0..9 (10 classes)::

    [MAX 2 9 [MIN 4 7 ] 0 ]          ->  9
    [SM 5 6 [MED 1 9 3 ] ]           ->  4      (5 + 6 + 3 = 14, mod 10)

Grammar: ``expr := digit | op expr expr ... expr "]"`` with 2 .. ``max_args`` arguments per operator and
the operators ``[MAX`` (maximum), ``[MIN`` (minimum), ``[MED`` (median: for an even count the mean of the
two middle values rounded down, as LRA's ``int(np.median(...))``) and ``[SM`` (sum modulo 10).

**Sampling, as LRA's ``lra_benchmarks/data/listops.py``.** The root sits at depth 1. A node at depth
``< max_depth`` is an operator with probability ``VALUE_P = 0.25`` (else a digit); a node at
``max_depth`` is always a digit, so at most ``max_depth - 1`` operators are nested. An operator is uniform
over the four, its argument count uniform over ``2 .. max_args``, a digit uniform over ``0 .. 9``. An
expression's length is its number of tokens (operators, digits and closing brackets); expressions are
kept when ``min_length < length < max_length`` (strict, as LRA) and duplicates are dropped, so the train,
validation and test splits (taken in order: ``n_train``, then ``n_val``, then ``n_test``) never share an
expression. LRA's set is ``max_depth=10, max_args=10, min_length=500, max_length=2000`` with 96k / 2k / 2k
samples (:data:`LRA_DEFAULTS`); our defaults are a small CPU version of it. Expressions that outgrow
``max_length`` are abandoned as soon as they do (same accepted distribution, much faster), and the random
numbers come from ``numpy.random.default_rng(seed)``: the data depend on ``seed`` only, not on LRA's files.

**Tokenisation.** A fixed vocabulary of :data:`VOCAB_SIZE` = 16 tokens, :data:`VOCAB`: ``0`` padding,
``1..10`` the digits ``0..9`` (id = digit + 1), ``11..14`` ``[MAX [MIN [MED [SM``, ``15`` the closing ``]``.
LRA's generator writes its tuples with grouping parentheses, ``( ( [MAX 2 ) 9 ) ...``; they carry no
information and are dropped (:func:`tokenize` and :func:`evaluate` accept and ignore them). The closing
bracket is kept as a token, as the S4 / S5 ListOps pipelines do (they rename it ``X`` so that it
survives); LRA's original TensorFlow tokenizer dropped every non-alphanumeric character, ``]`` included,
and numbered its 14 remaining tokens in an arbitrary (set) order, so only "padding is 0" carries over.

**Shapes.** Every sequence is padded with id 0 at the end to ``max_length`` (LRA pads the same way). A fixed
length keeps a model's output for an example independent of what it is batched with (a mean-pooled or
causal model reads the padding too), and at the CPU sizes the padding costs less than dynamic shapes
would save. Batches are ``(x, y)``, ``y`` ``(batch,)`` int64 in ``[0, 10)`` and

- ``one_hot=True`` (default): ``x`` ``(batch, max_length, 16)`` float32 one-hot tokens, so a model with a
  ``Linear(d_input=16, d_model)`` encoder, like the zoo's S4D, runs unchanged; a linear map of a one-hot
  vector is exactly an embedding lookup (the padding token gets its own learned vector);
- ``one_hot=False``: ``x`` ``(batch, max_length)`` int64 token ids, for a model with its own
  ``nn.Embedding(16, ...)``.

The generated splits are cached under ``data_dir/listops/`` (``zoo.cache.cached``, atomic writes) in a file
named by every generation parameter and the seed, so a changed parameter never reads a stale file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from zoo.data.base import GeneratedData, SplitDataModule

log = logging.getLogger(__name__)

#: probability that a node above ``max_depth`` is an operator (LRA's ``VALUE_P``)
VALUE_P = 0.25
OPERATORS = ("[MAX", "[MIN", "[MED", "[SM")
CLOSE = "]"
PAD = "<pad>"
#: the vocabulary in id order: padding, the digits 0..9, the four operators, the closing bracket
VOCAB = (PAD, *(str(digit) for digit in range(10)), *OPERATORS, CLOSE)
VOCAB_SIZE = len(VOCAB)
TOKEN_IDS = {token: index for index, token in enumerate(VOCAB)}
PAD_ID, CLOSE_ID, FIRST_OPERATOR_ID = 0, TOKEN_IDS[CLOSE], TOKEN_IDS[OPERATORS[0]]
#: the Long Range Arena's generation parameters and split sizes
LRA_DEFAULTS = {"max_depth": 10, "max_args": 10, "max_length": 2000, "min_length": 500,
                "n_train": 96_000, "n_val": 2_000, "n_test": 2_000}
_CACHE_VERSION = 1  # bump when the generator changes what a seed produces


def apply_operator(operator: str, args: Sequence[int]) -> int:
    """The value of ``operator`` (one of :data:`OPERATORS`) on the digits ``args``."""
    if not args:
        raise ValueError(f"operator {operator} has no arguments")
    if operator == "[MAX":
        return max(args)
    if operator == "[MIN":
        return min(args)
    if operator == "[MED":
        ordered, middle = sorted(args), len(args) // 2
        return ordered[middle] if len(args) % 2 else (ordered[middle - 1] + ordered[middle]) // 2
    if operator == "[SM":
        return sum(args) % 10
    raise ValueError(f"unknown operator {operator!r}: expected one of {', '.join(OPERATORS)}")


def _as_tokens(expression) -> list[str]:
    """A string (whitespace-separated), a sequence of token strings, or token ids -> token strings."""
    if isinstance(expression, str):
        return expression.split()
    if isinstance(expression, (torch.Tensor, np.ndarray)):
        expression = expression.tolist()
    if all(isinstance(item, int) for item in expression):
        return detokenize(expression).split()
    return list(expression)


def evaluate(expression) -> int:
    """The value 0..9 of a ListOps expression: a string like ``"[MAX 2 9 [MIN 4 7 ] 0 ]"``, a sequence of
    token strings, or token ids (padding ignored). LRA's parentheses ``(`` ``)`` are ignored.
    Raises ``ValueError`` on a malformed expression."""
    frames: list[tuple[str, list[int]]] = []  # the open operators, innermost last, with their arguments
    result: int | None = None
    for token in _as_tokens(expression):
        if token in ("(", ")"):
            continue
        if result is not None:
            raise ValueError(f"malformed expression: {token!r} after the end of a complete expression")
        if token in OPERATORS:
            frames.append((token, []))
            continue
        if token == CLOSE:
            if not frames:
                raise ValueError("malformed expression: ']' closes no operator")
            operator, args = frames.pop()
            value = apply_operator(operator, args)
        elif token in TOKEN_IDS and token != PAD:
            value = int(token)
        else:
            raise ValueError(f"unknown token {token!r}: expected a digit 0-9, {' '.join(OPERATORS)} or ']'")
        if frames:
            frames[-1][1].append(value)
        else:
            result = value
    if frames:
        raise ValueError(f"malformed expression: {len(frames)} operator(s) not closed with ']'")
    if result is None:
        raise ValueError("empty expression")
    return result


def tokenize(expression: str) -> list[int]:
    """``"[MAX 2 9 ]"`` -> ``[11, 3, 10, 15]``: whitespace-separated tokens to ids; parentheses are dropped."""
    ids = []
    for token in expression.split():
        if token in ("(", ")"):
            continue
        if token not in TOKEN_IDS or token == PAD:
            raise ValueError(f"unknown token {token!r}: the ListOps vocabulary is {' '.join(VOCAB[1:])}")
        ids.append(TOKEN_IDS[token])
    return ids


def detokenize(ids) -> str:
    """Token ids (padding skipped) -> the expression as a string, e.g. ``"[MAX 2 9 ]"``."""
    ids = ids.tolist() if isinstance(ids, (torch.Tensor, np.ndarray)) else ids
    for index in ids:
        if not 0 <= index < VOCAB_SIZE:
            raise ValueError(f"token id {index} is outside the ListOps vocabulary [0, {VOCAB_SIZE})")
    return " ".join(VOCAB[index] for index in ids if index != PAD_ID)


def longest_expression(max_depth: int, max_args: int) -> int:
    """The most tokens an expression can have with these limits."""
    length = 1  # a node at max_depth is a digit
    for _ in range(max_depth - 1):
        length = 2 + max_args * length
    return length


def check_generation_args(max_depth: int, max_args: int, max_length: int, min_length: int) -> None:
    """Raise ``ValueError`` naming what is expected when no expression can satisfy the limits."""
    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1 (the root sits at depth 1), got {max_depth}")
    if max_args < 2:
        raise ValueError(f"max_args must be >= 2 (an operator takes 2 .. max_args arguments), got {max_args}")
    if min_length < 0 or max_length < min_length + 2:
        raise ValueError(f"lengths are kept when min_length < length < max_length: need 0 <= min_length and "
                         f"max_length >= min_length + 2, got min_length={min_length}, max_length={max_length}")
    longest = longest_expression(max_depth, max_args)
    if longest <= min_length:
        raise ValueError(f"no expression with max_depth={max_depth} and max_args={max_args} is longer than "
                         f"{longest} tokens: lower min_length (got {min_length}) or raise max_depth / max_args")


class _TooLong(Exception):
    pass


def generate_listops(num_samples: int, max_depth: int = 5, max_args: int = 10, max_length: int = 256,
                     min_length: int = 32, seed: int = 0) -> tuple[list[list[int]], list[int]]:
    """``num_samples`` distinct expressions as token-id lists, and their values, by LRA's sampling procedure.

    Deterministic in its arguments. Raises ``RuntimeError`` when fewer than 1 in 1000 sampled expressions
    is accepted (a length window the sampler rarely reaches, or fewer distinct expressions than asked for).
    """
    check_generation_args(max_depth, max_args, max_length, min_length)
    rng = np.random.default_rng(seed)
    uniforms, position = rng.random(1 << 16), 0
    tokens: list[int] = []

    def draw() -> float:  # one uniform in [0, 1), drawn from numpy in blocks (a call per number is slow)
        nonlocal uniforms, position
        if position == len(uniforms):
            uniforms, position = rng.random(1 << 16), 0
        position += 1
        return uniforms[position - 1]

    def node(depth: int) -> int:  # appends the tokens of one sampled subtree, returns its value
        if depth < max_depth and draw() <= VALUE_P:
            operator = int(draw() * len(OPERATORS))
            count = 2 + int(draw() * (max_args - 1))
            tokens.append(FIRST_OPERATOR_ID + operator)
            args = [node(depth + 1) for _ in range(count)]
            tokens.append(CLOSE_ID)
            value = apply_operator(OPERATORS[operator], args)
        else:
            value = int(draw() * 10)
            tokens.append(TOKEN_IDS[str(value)])
        if len(tokens) >= max_length:  # already too long: give up on this expression now
            raise _TooLong
        return value

    seen: set[bytes] = set()
    sequences, values, attempts = [], [], 0
    report_every = max(num_samples // 10, 1)
    while len(sequences) < num_samples:
        attempts += 1
        if attempts >= 100_000 and attempts > 1000 * (len(sequences) + 1):
            raise RuntimeError(
                f"ListOps generation accepted {len(sequences)} of {attempts} sampled expressions: widen the "
                f"length window (min_length={min_length}, max_length={max_length}), change max_depth="
                f"{max_depth} / max_args={max_args}, or ask for fewer samples ({num_samples})")
        tokens.clear()
        try:
            value = node(1)
        except _TooLong:
            continue
        key = bytes(tokens)
        if len(tokens) <= min_length or key in seen:
            continue
        seen.add(key)
        sequences.append(list(tokens))
        values.append(value)
        if num_samples >= 10_000 and len(sequences) % report_every == 0:
            log.info("ListOps: generated %d / %d expressions", len(sequences), num_samples)
    return sequences, values


def pad_sequences(sequences: Sequence[Sequence[int]], length: int) -> torch.Tensor:
    """Token-id lists -> ``(n, length)`` uint8, padded at the end with id 0."""
    padded = np.zeros((len(sequences), length), dtype=np.uint8)
    for row, sequence in enumerate(sequences):
        if len(sequence) > length:
            raise ValueError(f"sequence {row} has {len(sequence)} tokens, more than the padded length {length}")
        padded[row, :len(sequence)] = sequence
    return torch.from_numpy(padded)


class ListOpsDataset(Dataset):
    """Padded token ids ``(n, max_length)`` and labels ``(n,)``; items ``(x, y)`` as described above."""

    def __init__(self, tokens: torch.Tensor, labels: torch.Tensor, one_hot: bool = True):
        self.tokens, self.labels, self.one_hot = tokens, labels, one_hot

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.tokens[index].long()
        return (F.one_hot(ids, VOCAB_SIZE).float() if self.one_hot else ids), self.labels[index]


class ListOpsDataModule(GeneratedData, SplitDataModule):
    """LRA ListOps (see the module docstring), generated with ``seed`` and cached under ``data_dir``.

    ``x``: ``(batch, max_length, 16)`` float32 one-hot, or ``(batch, max_length)`` int64 ids with
    ``one_hot=False``; ``y``: ``(batch,)`` int64 in ``[0, 10)``. Facts (class attributes): ``d_input``, the
    vocabulary size (16) either way (the encoder's input size, or the embedding's number of rows), and
    ``num_classes`` (10). The split is the generation order; the shuffling order follows the run's global seed
    (``seed_everything``). The defaults are a CPU-sized
    ListOps (expressions of 33..255 tokens, at most 4 nested operators, 5000 / 500 / 500 samples; about
    1 s to generate); :data:`LRA_DEFAULTS` lists the paper's values. :meth:`majority_baseline` gives the
    accuracy of always predicting a split's most frequent value, the figure a model must beat.
    """

    d_input, num_classes = VOCAB_SIZE, 10
    facts = ("d_input", "num_classes")

    def __init__(self, data_dir: str = "data", max_length: int = 256, min_length: int = 32, max_depth: int = 5,
                 max_args: int = 10, n_train: int = 5000, n_val: int = 500, n_test: int = 500, batch_size: int = 64,
                 seed: int = 0, num_workers: int = 0, one_hot: bool = True):
        check_generation_args(max_depth, max_args, max_length, min_length)
        for name, size in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("batch_size", batch_size)):
            if size < 1:
                raise ValueError(f"{name} must be a positive integer, got {size}")
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.data_dir, self.one_hot, self.seed = Path(data_dir), one_hot, seed
        self.max_length, self.min_length, self.max_depth, self.max_args = max_length, min_length, max_depth, max_args
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.length = max_length

    @property
    def cache_path(self) -> Path:
        """The cache file: every generation parameter and the seed are in its name."""
        sizes = "-".join(str(size) for size in self.sizes.values())
        name = (f"listops-v{_CACHE_VERSION}-depth{self.max_depth}-args{self.max_args}-len{self.min_length}-"
                f"{self.max_length}-n{sizes}-seed{self.seed}.pt")
        return self.data_dir / "listops" / name

    def _generate(self) -> dict[str, torch.Tensor]:
        log.info("ListOps: generating %d expressions into %s", sum(self.sizes.values()), self.cache_path)
        sequences, values = generate_listops(sum(self.sizes.values()), self.max_depth, self.max_args,
                                             self.max_length, self.min_length, self.seed)
        return {"tokens": pad_sequences(sequences, self.max_length),
                "lengths": torch.tensor([len(sequence) for sequence in sequences], dtype=torch.long),
                "labels": torch.tensor(values, dtype=torch.long)}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        data = self.load()
        start = 0
        for split, size in self.sizes.items():
            self.splits[split] = ListOpsDataset(data["tokens"][start:start + size],
                                                data["labels"][start:start + size], self.one_hot)
            start += size

    def label_counts(self, split: str = "test") -> torch.Tensor:
        """How many expressions of ``split`` have each value: ``(10,)`` int64."""
        self.setup()
        return torch.bincount(self.splits[split].labels, minlength=self.num_classes)

    def majority_baseline(self, split: str = "test") -> float:
        """The accuracy on ``split`` of always predicting the training split's most frequent value."""
        majority = int(self.label_counts("train").argmax())
        return float((self.splits[split].labels == majority).float().mean())
