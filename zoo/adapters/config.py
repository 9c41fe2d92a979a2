"""Adapter configurations, peft-shaped: what to adapt (``target_modules``), what to leave alone, what to train fully.

``target_modules`` is a list of names (a module matches when its dotted name equals one of them or ends
with ``"." + name``), a string (a regular expression that must match the whole dotted name, as peft's
``re.fullmatch``), or ``None``: every layer an adapter supports (``nn.Linear``, ``nn.Conv1d/2d/3d`` and
the complex spectral weights of the neural operators). ``exclude_modules`` takes the same forms.
``modules_to_save`` names modules (e.g. a new head) that train in full and are saved with the adapters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

from zoo.arguments import check_arguments

FLORA_INITS = ("zero_core", "lora")


@dataclass
class AdapterConfig:
    """What every adapter shares. ``rank``: an int or the ranks of the weight's modes in order, each clamped to
    its mode's size (a weight with fewer modes uses the leading ones, see ``mode_ranks``); ``rank_pattern`` maps a regular expression of module names to a rank for those modules.
    ``dropout``: on the adapter's input only."""

    rank: int | list[int] = 8
    target_modules: list[str] | str | None = None
    exclude_modules: list[str] | str | None = None
    modules_to_save: list[str] = field(default_factory=list)
    rank_pattern: dict[str, int | list[int]] = field(default_factory=dict)
    dropout: float = 0.0

    method = "adapter"

    def __post_init__(self):
        ranks = [self.rank] + list(self.rank_pattern.values())
        for rank in ranks:
            values = rank if isinstance(rank, (list, tuple)) else [rank]
            if not values or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in values):
                raise ValueError(f"{type(self).__name__}: a rank is a positive int or a list of positive ints "
                                 f"(one per weight mode), got {rank!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must lie in [0, 1), got {self.dropout}")
        for name in ("target_modules", "exclude_modules"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    re.compile(value)
                except re.error as err:
                    raise ValueError(f"{name}={value!r} is not a valid regular expression: {err}") from None
            elif value is not None and not all(isinstance(item, str) for item in value):
                raise ValueError(f"{name} must be a list of module names, a regular expression or None, got {value!r}")

    def targets(self, name: str) -> bool:
        """Whether the module called ``name`` is to be adapted (``None`` targets: every supported layer)."""
        return (self.target_modules is None or name_matches(name, self.target_modules)) and not (
            self.exclude_modules is not None and name_matches(name, self.exclude_modules))

    def rank_for(self, name: str) -> int | list[int]:
        """The rank of module ``name``: the first ``rank_pattern`` entry whose expression matches it, else ``rank``."""
        for pattern, rank in self.rank_pattern.items():
            if re.fullmatch(pattern, name):
                return rank
        return self.rank

    def to_dict(self) -> dict:
        """A JSON-ready dict with the method name, the inverse of :func:`config_from_dict`."""
        return {"method": self.method, **asdict(self)}


@dataclass
class FLoRAConfig(AdapterConfig):
    """FLoRA: ``ΔW = s · G ×₁ A₁ ×₂ A₂ … ×_N A_N``. ``scale`` is the plain multiplier ``s`` (not α/r);
    ``init="zero_core"`` (the paper: G = 0, Kaiming factors) or ``"lora"`` (G and the input factors random,
    the output-mode factor zero)."""

    scale: float = 1.0
    init: str = "zero_core"

    method = "flora"

    def __post_init__(self):
        super().__post_init__()
        if self.init not in FLORA_INITS:
            raise ValueError(f"FLoRAConfig: unknown init {self.init!r}; expected one of {', '.join(FLORA_INITS)}")


@dataclass
class LoRAConfig(AdapterConfig):
    """LoRA (LoCon for convolutions): ``ΔW = (α / r) · B A`` on the weight viewed as a matrix
    ``(d_out, d_in · Π kernel)``; A Kaiming-uniform, B = 0. ``alpha=None`` means α = r. ``rank`` is one int."""

    alpha: float | None = None

    method = "lora"

    def __post_init__(self):
        super().__post_init__()
        if any(isinstance(rank, (list, tuple)) for rank in [self.rank, *self.rank_pattern.values()]):
            raise ValueError("LoRAConfig: LoRA has one rank per layer; give an int (per-mode ranks are FLoRA's)")


CONFIGS = {config.method: config for config in (FLoRAConfig, LoRAConfig)}


def config_from_dict(values: dict) -> AdapterConfig:
    """Rebuild a config from :meth:`AdapterConfig.to_dict` (or a Hydra ``finetune`` group: extra keys are
    refused with their names)."""
    values = dict(values)
    method = values.pop("method", None)
    if method not in CONFIGS:
        raise ValueError(f"unknown adapter method {method!r}; expected one of {', '.join(CONFIGS)}")
    cls = CONFIGS[method]
    known = {item.name for item in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__} has no option(s) {unknown}; valid options: {sorted(known)}")
    check_arguments(cls, values, caller=cls.__name__, prefix="finetune")
    return cls(**values)


def name_matches(name: str, spec: list[str] | str) -> bool:
    """Whether dotted module ``name`` matches a list of names (exact or ``.name`` suffix) or a full regex."""
    if isinstance(spec, str):
        return re.fullmatch(spec, name) is not None
    return any(name == item or name.endswith("." + item) for item in spec)
