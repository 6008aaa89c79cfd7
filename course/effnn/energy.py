"""Energy per operation on a 45 nm CMOS process, and a first-order estimate for one inference.

Figures from M. Horowitz, "Computing's Energy Problem (and what we can do about it)", ISSCC 2014,
as quoted by Han et al. in the Deep Compression / EIE talks. The estimate counts one multiply and
one add per MAC and one memory read per weight fetched; it ignores activations, control and
leakage, so it is a lower bound that shows the *ratio* between arithmetic and memory.
"""
from __future__ import annotations

#: picojoules per operation (45 nm, 0.9 V)
ENERGY_PJ = {
    "int8_add": 0.03,
    "int32_add": 0.1,
    "fp16_add": 0.4,
    "fp32_add": 0.9,
    "int8_mult": 0.2,
    "int32_mult": 3.1,
    "fp16_mult": 1.1,
    "fp32_mult": 3.7,
    "register_32bit": 1.0,
    "sram_32bit": 5.0,
    "dram_32bit": 640.0,
}

_MAC = {"fp32": ("fp32_mult", "fp32_add"), "fp16": ("fp16_mult", "fp16_add"),
        "int32": ("int32_mult", "int32_add"), "int8": ("int8_mult", "int32_add")}
_BITS = {"fp32": 32, "fp16": 16, "int32": 32, "int8": 8}


def inference_energy(macs: int, weight_count: int, dtype: str = "fp32", weights_in: str = "dram") -> dict:
    """Energy in microjoules of the MACs and of fetching each weight once from ``weights_in``.

    Memory energy scales with the bits moved: an int8 weight costs a quarter of a 32-bit read.

    Args:
        macs: multiply-accumulates of one inference, an int >= 0 (e.g. :func:`effnn.measure.count_macs`).
        weight_count: weights fetched once each, an int >= 0.
        dtype: ``"fp32"``, ``"fp16"``, ``"int32"`` or ``"int8"`` (int8 MACs accumulate in int32).
        weights_in: ``"dram"`` or ``"sram"``, where the weights are read from.
    Returns:
        ``{"compute_uj", "memory_uj", "total_uj"}``, floats in microjoules.

    >>> round(inference_energy(1_000_000, 0)["compute_uj"], 6)
    4.6
    """
    from . import validate as V

    V.choice(dtype, "dtype", tuple(_MAC))
    V.choice(weights_in, "weights_in", ("dram", "sram"))
    V.integer(macs, "macs", low=0)
    V.integer(weight_count, "weight_count", low=0)
    mult, add = _MAC[dtype]
    compute = macs * (ENERGY_PJ[mult] + ENERGY_PJ[add])
    memory = weight_count * ENERGY_PJ[f"{weights_in}_32bit"] * _BITS[dtype] / 32
    return {"compute_uj": compute * 1e-6, "memory_uj": memory * 1e-6, "total_uj": (compute + memory) * 1e-6}
