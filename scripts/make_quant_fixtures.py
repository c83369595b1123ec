#!/usr/bin/env python3
"""Writes quant-formats/fixtures/: independent reference outputs for the block maths.

For every GGML type quant-formats supports:
  dequantize/<TYPE>.bin  random blocks (random bytes; the f16/f32 scale fields overwritten by finite
                         values in a sane range; float types: random finite bit patterns)
  dequantize/<TYPE>.f32  their dequantisation by gguf-py (PyPI `gguf`, `gguf.quants.dequantize`),
                         little-endian f32
and, for every type gguf-py can quantise:
  quantize/input.f32     one random f32 row (LE), shared by all types
  quantize/<TYPE>.bin    gguf-py's `gguf.quants.quantize` of that row
  quantize/llama_cpp_q8_1_input.f32
                         the input of fixtures/llama_cpp/Q8_1_act.bin (llama.cpp's own Q8_1 quantiser)

gguf-py has no Q8_1 or Q8_K dequantiser (ggml uses them only as activation formats). For those two the
reference is the numpy expression in REFERENCE_DEQUANT below, written from ggml's definition
(ggml-quants.c `dequantize_row_q8_K`: y = d * qs; Q8_1: y = d * qs) and recorded as such in manifest.json.

Usage: pip install gguf==0.19.0 && python3 scripts/make_quant_fixtures.py
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

OUT = Path(__file__).resolve().parent.parent / "quant-formats" / "fixtures"
GGUF_PY = f"gguf-py {importlib.metadata.version('gguf')}"

# The 17 types of quant_formats::GgmlType::ALL.
TYPES = [
    T.F32, T.F16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q8_1, T.Q2_K, T.Q3_K, T.Q4_K,
    T.Q5_K, T.Q6_K, T.Q8_K, T.IQ4_NL, T.IQ4_XS, T.BF16,
]

# Byte offsets of the f16 scale fields in each block (ggml/src/ggml-common.h).
F16_SCALE_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q8_1: [0, 2],
    T.Q2_K: [80, 82],  # scales[16], qs[64], d, dmin
    T.Q3_K: [108],  # hmask[32], qs[64], scales[12], d
    T.Q4_K: [0, 2], T.Q5_K: [0, 2],  # d, dmin, ...
    T.Q6_K: [208],  # ql[128], qh[64], scales[16], d
    T.IQ4_NL: [0], T.IQ4_XS: [0],
}
# Byte offsets of f32 scale fields.
F32_SCALE_OFFSETS = {T.Q8_K: [0]}  # d, qs[256], bsums[16]


def block_geometry(qtype: T) -> tuple[int, int]:
    """(elements, bytes) per block. gguf-py's table still lists Q8_1 as 40 bytes (the old f32 `d`, `s`);
    ggml's `block_q8_1` is 36 (two f16, ggml-common.h)."""
    return (32, 36) if qtype == T.Q8_1 else gguf.GGML_QUANT_SIZES[qtype]


def dequant_q8_1(raw: np.ndarray) -> np.ndarray:
    blocks = raw.reshape(-1, 36)
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, 4:].copy().view(np.int8).astype(np.float32)
    return (qs * d).reshape(-1)


def dequant_q8_k(raw: np.ndarray) -> np.ndarray:
    blocks = raw.reshape(-1, 292)
    d = blocks[:, 0:4].copy().view(np.float32)
    qs = blocks[:, 4:260].copy().view(np.int8).astype(np.float32)
    return (d * qs).reshape(-1)


REFERENCE_DEQUANT = {T.Q8_1: dequant_q8_1, T.Q8_K: dequant_q8_k}


def random_float_bits(rng: np.random.Generator, qtype: T, n: int) -> np.ndarray:
    """Random bit patterns of finite floats (all exponents incl. subnormals, never inf/NaN)."""
    if qtype == T.F32:
        bits = rng.integers(0, 2**32, n, dtype=np.uint32)
        exp_all_ones = (bits & 0x7F800000) == 0x7F800000
        bits[exp_all_ones] &= ~np.uint32(0x40000000)
    else:
        bits = rng.integers(0, 2**16, n, dtype=np.uint16)
        mask = np.uint16(0x7C00 if qtype == T.F16 else 0x7F80)
        clear = np.uint16(0x4000)
        exp_all_ones = (bits & mask) == mask
        bits[exp_all_ones] &= ~clear
    return bits.view(np.uint8)


def random_blocks(rng: np.random.Generator, qtype: T, n_blocks: int) -> np.ndarray:
    block_elems, block_bytes = block_geometry(qtype)
    if block_elems == 1:
        return random_float_bits(rng, qtype, n_blocks)
    raw = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint8)
    for off in F16_SCALE_OFFSETS.get(qtype, []):
        # Magnitudes from 1e-4 to 1 with both signs: finite, and products stay far from overflow.
        scale = rng.choice([-1.0, 1.0], n_blocks) * 10.0 ** rng.uniform(-4, 0, n_blocks)
        raw[:, off:off + 2] = scale.astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
    for off in F32_SCALE_OFFSETS.get(qtype, []):
        scale = rng.choice([-1.0, 1.0], n_blocks) * 10.0 ** rng.uniform(-6, 0, n_blocks)
        raw[:, off:off + 4] = scale.astype(np.float32).view(np.uint8).reshape(n_blocks, 4)
    return raw.reshape(-1)


def quantize_input(rng: np.random.Generator) -> np.ndarray:
    """512 values: 32-element blocks of different magnitudes, one all-zero and one constant block."""
    n = 512
    amplitude = np.repeat(10.0 ** rng.uniform(-3, 1, n // 32), 32)
    x = (rng.standard_normal(n) * amplitude).astype(np.float32)
    x[64:96] = 0.0
    x[96:128] = np.float32(-0.75)
    return x


def main() -> None:
    (OUT / "dequantize").mkdir(parents=True, exist_ok=True)
    (OUT / "quantize").mkdir(parents=True, exist_ok=True)
    manifest: dict = {"generator": "scripts/make_quant_fixtures.py", "dequantize": [], "quantize": []}

    for i, qtype in enumerate(TYPES):
        rng = np.random.default_rng(1000 + i)
        block_elems, _ = block_geometry(qtype)
        n_blocks = 64 if block_elems == 1 else 8
        raw = random_blocks(rng, qtype, n_blocks)
        if qtype in REFERENCE_DEQUANT:
            values, reference = REFERENCE_DEQUANT[qtype](raw), "numpy in make_quant_fixtures.py"
        else:
            values, reference = dequantize(raw, qtype).reshape(-1), f"{GGUF_PY} gguf.quants.dequantize"
        values = np.ascontiguousarray(values, dtype="<f4")
        assert values.size == n_blocks * block_elems and np.all(np.isfinite(values)), qtype.name
        (OUT / "dequantize" / f"{qtype.name}.bin").write_bytes(raw.tobytes())
        (OUT / "dequantize" / f"{qtype.name}.f32").write_bytes(values.tobytes())
        manifest["dequantize"].append({
            "type": qtype.name, "blocks": n_blocks, "elements": int(values.size), "reference": reference,
        })

    x = quantize_input(np.random.default_rng(7))
    (OUT / "quantize" / "input.f32").write_bytes(x.astype("<f4").tobytes())
    for qtype in TYPES:
        try:
            q = quantize(x, qtype)
        except NotImplementedError:
            continue
        (OUT / "quantize" / f"{qtype.name}.bin").write_bytes(np.ascontiguousarray(q).view(np.uint8).tobytes())
        manifest["quantize"].append({"type": qtype.name, "reference": f"{GGUF_PY} gguf.quants.quantize"})

    # The activations fixtures/llama_cpp/make.sh quantised with llama.cpp's quantize_row_q8_1_ref
    # into fixtures/llama_cpp/Q8_1_act.bin (same generator and seed), so our Q8_1 quantiser is
    # checked against ggml-quants.c itself.
    act = (np.random.default_rng(99).standard_normal(4096) * 1.5).astype("<f4")
    (OUT / "quantize" / "llama_cpp_q8_1_input.f32").write_bytes(act.tobytes())

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
