"""Counting FLOPs with ``torch.utils.flop_counter``, CPU attention included.

torch registers FLOP formulas only for the CUDA scaled-dot-product-attention
kernels; on the CPU, SDPA dispatches to
``_scaled_dot_product_flash_attention_for_cpu``, which the plain counter
silently counts as 0, so every SDPA model would look cheaper than it is.
The benchmarks count through :func:`flop_counter_mode`.
"""

from __future__ import annotations

import torch
from torch.utils import flop_counter


def flop_counter_mode() -> flop_counter.FlopCounterMode:
    """``FlopCounterMode`` that also counts CPU scaled-dot-product attention.

    torch registers FLOP formulas only for the CUDA SDPA kernels; on the CPU,
    SDPA dispatches to ``_scaled_dot_product_flash_attention_for_cpu``, which would
    silently count as 0 and make every SDPA model look cheaper than it is.
    """
    aten = torch.ops.aten
    mapping = {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_forward
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _sdpa_backward
    return flop_counter.FlopCounterMode(display=False, custom_mapping=mapping)


def _sdpa_forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    # torch's own formula; FlopCounterMode passes shapes (it wraps custom formulas itself)
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def count_flops(fn) -> tuple[object, int]:
    with flop_counter_mode() as fc:
        out = fn()
    return out, int(fc.get_total_flops())
