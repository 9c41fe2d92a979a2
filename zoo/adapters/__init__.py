"""Parameter-efficient fine-tuning for every zoo model: FLoRA (Tucker core per N-mode weight) and LoRA/LoCon.

    from zoo.adapters import FLoRAConfig, inject_adapters, save_adapters
    inject_adapters(model, FLoRAConfig(rank=8, scale=1.0))   # only the adapters train now
    ...                                                       # train
    save_adapters(model, "adapters/")                         # adapter weights + config only
"""

from zoo.adapters.config import AdapterConfig, FLoRAConfig, LoRAConfig, config_from_dict
from zoo.adapters.layers import AdapterLayer, LayerAdapter, LowRankDelta, SpectralAdapter, TuckerDelta
from zoo.adapters.tuner import (adapter_config, adapter_layers, adapter_state_dict, count_parameters,
                                disable_adapters, inject_adapters, load_adapters, mark_only_adapters_trainable,
                                merge, merge_and_unload, read_adapter_config, save_adapters, unmerge)

__all__ = [
    "AdapterConfig", "AdapterLayer", "FLoRAConfig", "LayerAdapter", "LoRAConfig", "LowRankDelta", "SpectralAdapter",
    "TuckerDelta", "adapter_config", "adapter_layers", "adapter_state_dict", "config_from_dict", "count_parameters",
    "disable_adapters", "inject_adapters", "load_adapters", "mark_only_adapters_trainable", "merge",
    "merge_and_unload", "read_adapter_config", "save_adapters", "unmerge",
]
