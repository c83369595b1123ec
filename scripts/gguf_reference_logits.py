#!/usr/bin/env python3
"""Float64 reference logits for GGUF files converted from the Hugging Face parity models.

Each case is a family and a GGUF weight type. The script converts the family's Hugging Face
checkpoint with `realizar convert` (our converter: llama.cpp's names, metadata, q/k permutation
and Q4_K_M type mix), then builds the reference independently of our code:

  1. reads the GGUF with gguf-py's GGUFReader and checks its metadata against config.json
     (and `rope_freqs.weight` against transformers' own llama3 inverse frequencies);
  2. dequantises every tensor with `gguf.quants.dequantize` (gguf-py's numpy port of ggml);
  3. maps llama.cpp names back to transformers names and undoes llama.cpp's q/k row permutation
     (`LlamaModel.permute` in convert_hf_to_gguf.py) for the `llama` architecture;
  4. loads those weights into the transformers model of config.json in float64 (eager attention,
     CPU) and writes the logits of the family's token sequence.

Families:
  fixtures/parity/<family>/          hidden 64 / FFN 160 (scripts/hf_reference_logits.py). No
                                     64-wide row is a multiple of 256, so Q4_K_M falls back to
                                     Q5_0 / Q8_0 exactly as llama-quantize does.
  fixtures/parity-gguf/hf/<f>-h256/  hidden 256 / FFN 512 / 2 layers / vocab 300, built here with
                                     the same randomisation: Q4_K_M holds real Q4_K and Q6_K
                                     tensors. Only config.json, reference.json and the unquantised
                                     float64 logits are committed; model.safetensors (5 MB) is
                                     rebuilt from the seed.

Outputs (fixtures/parity-gguf/):
  <family>-<dtype>.gguf          the converted file (the CASES below; all files < 4 MB)
  <family>-<dtype>.logits.f32    f32 LE [len(tokens), vocab] from the dequantised weights
  reference.json                 per case: tokens source, tensor types, sha256, max |logit|
F32 files are not committed: their dequantised weights must equal the safetensors values bit for
bit (checked here), so their reference is fixtures/parity/<family>/logits.f32 unchanged (also
checked here), and the Rust test converts them itself.

Needs torch, transformers, gguf (PyPI) and a built `realizar`:
    cargo build --release -p serve && python3 scripts/gguf_reference_logits.py
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np
import torch
import transformers
import gguf
from gguf import GGUFReader
from gguf.quants import dequantize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference_logits as hfref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PARITY = os.path.join(ROOT, "fixtures", "parity")
OUT = os.path.join(ROOT, "fixtures", "parity-gguf")

# Wide variants of two families: every matrix row is a multiple of 256.
WIDE = {"llama3-h256": ("llama3", 2000), "qwen2-h256": ("qwen2", 2001)}
WIDE_DIMS = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, vocab_size=300)

# (family, dtype) whose GGUF is committed; each family's F32 is checked without a file.
CASES = [
    ("llama2", "q8_0"),
    ("llama2", "q4_k_m"),
    ("llama3", "f16"),
    ("llama3", "q4_k_m"),
    ("mistral", "f16"),
    ("mistral", "q4_k_m"),
    ("qwen2", "q8_0"),
    ("qwen2", "q4_k_m"),
    ("qwen3", "q8_0"),
    ("qwen3", "q4_k_m"),
    ("llama3-h256", "q4_k_m"),
    ("qwen2-h256", "q4_k_m"),
]
F32_FAMILIES = ["llama2", "llama3", "mistral", "qwen2", "qwen3"]

# llama.cpp tensor name (blk.N. stripped) -> transformers name (model.layers.N. stripped).
LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.bias": "self_attn.o_proj.bias",
    "attn_q_norm.weight": "self_attn.q_norm.weight",
    "attn_k_norm.weight": "self_attn.k_norm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
MODEL_CLASSES = {
    "LlamaForCausalLM": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
    "MistralForCausalLM": (transformers.MistralConfig, transformers.MistralForCausalLM),
    "Qwen2ForCausalLM": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    "Qwen3ForCausalLM": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
}


def hf_dir(family):
    return os.path.join(OUT, "hf", family) if family in WIDE else os.path.join(PARITY, family)


def build_wide(family):
    """The hidden-256 model: hf_reference_logits.py's family config and randomisation."""
    base, seed = WIDE[family]
    config_cls, model_cls, kwargs = hfref.MODELS[base]
    config = config_cls(**dict(kwargs, **WIDE_DIMS))
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    hfref.randomise(model, seed)
    model.tie_weights()
    path = hf_dir(family)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokens = torch.randint(0, config.vocab_size, (hfref.N_TOKENS,),
                           generator=torch.Generator().manual_seed(seed + 1))
    tokens[0] = config.bos_token_id
    with torch.no_grad():
        logits = model.to(torch.float64)(tokens[None, :]).logits[0]
    logits.numpy().astype("<f4").tofile(os.path.join(path, "logits.f32"))
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(
            {
                "reference": "transformers eager attention in float64 on the F32 weights of "
                "model.safetensors (not committed: rebuild with scripts/gguf_reference_logits.py)",
                "architecture": model_cls.__name__,
                "seed": seed,
                "tokens": tokens.tolist(),
                "logits": "logits.f32: f32 little-endian [len(tokens), vocab_size]",
                "vocab_size": config.vocab_size,
                "max_abs_logit": float(logits.abs().max()),
                "transformers": transformers.__version__,
                "torch": torch.__version__,
            },
            f,
            indent=1,
        )
    print(f"{family}: built {path}")


def field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def check_metadata(reader, config, arch):
    """The GGUF hyper-parameters must be those of config.json (read here independently)."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    expected = {
        "embedding_length": config.hidden_size,
        "block_count": config.num_hidden_layers,
        "feed_forward_length": config.intermediate_size,
        "attention.head_count": config.num_attention_heads,
        "attention.head_count_kv": config.num_key_value_heads,
        "rope.dimension_count": head_dim,
        "vocab_size": config.vocab_size,
    }
    for key, value in expected.items():
        found = field(reader, f"{arch}.{key}")
        assert found == value, f"{arch}.{key}: {found} != {value}"
    assert field(reader, f"{arch}.attention.key_length", head_dim) == head_dim
    eps = field(reader, f"{arch}.attention.layer_norm_rms_epsilon")
    assert np.float32(eps) == np.float32(config.rms_norm_eps), (eps, config.rms_norm_eps)
    rope = getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta}
    theta = field(reader, f"{arch}.rope.freq_base")
    assert np.float32(theta) == np.float32(rope["rope_theta"]), (theta, rope)
    return head_dim


def check_rope_factors(weights, model, head_dim, theta):
    """llama3 scaling: rope_freqs.weight must equal default / transformers' scaled inverse freqs."""
    scaled = model.model.rotary_emb.inv_freq.double().numpy()
    default = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    factors = weights.pop("rope_freqs.weight", None)
    if factors is None:
        assert np.allclose(scaled, default, rtol=1e-6), "rope scaling without rope_freqs.weight"
        return
    assert np.allclose(factors, default / scaled, rtol=1e-5), (factors, default / scaled)


def unpermute(w, n_head):
    """Inverse of convert_hf_to_gguf.py LlamaModel.permute:
    w.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2).reshape(w.shape)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def dequantised_hf_weights(reader, arch, n_head, n_head_kv):
    """Every tensor of the GGUF as float64 numpy under its transformers name."""
    weights, types = {}, Counter()
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype(np.float64)
        expected_shape = tuple(int(d) for d in reversed(t.shape))
        values = values.reshape(expected_shape)
        types[t.tensor_type.name] += 1
        name = t.name
        if name == "rope_freqs.weight":
            weights[name] = values
            continue
        if name.startswith("blk."):
            _, layer, rest = name.split(".", 2)
            hf_name = f"model.layers.{layer}.{LAYER_NAMES[rest]}"
            if arch == "llama" and rest == "attn_q.weight":
                values = unpermute(values, n_head)
            elif arch == "llama" and rest == "attn_k.weight":
                values = unpermute(values, n_head_kv)
        else:
            hf_name = GLOBAL_NAMES[name]
        weights[hf_name] = values
    return weights, dict(sorted(types.items()))


def reference_logits(gguf_path, family):
    """Float64 logits of the family's tokens from the dequantised weights of `gguf_path`."""
    src = hf_dir(family)
    with open(os.path.join(src, "config.json")) as f:
        config_json = json.load(f)
    config_cls, model_cls = MODEL_CLASSES[config_json["architectures"][0]]
    config = config_cls.from_pretrained(src)
    config._attn_implementation = "eager"
    with open(os.path.join(src, "reference.json")) as f:
        tokens = json.load(f)["tokens"]

    reader = GGUFReader(gguf_path)
    arch = field(reader, "general.architecture")
    expected_arch = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama"}.get(
        model_cls.__name__, config.model_type
    )
    assert arch == expected_arch, (arch, expected_arch)
    head_dim = check_metadata(reader, config, arch)
    weights, types = dequantised_hf_weights(
        reader, arch, config.num_attention_heads, config.num_key_value_heads
    )

    model = model_cls(config).to(torch.float64).eval()
    theta = (getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta})["rope_theta"]
    check_rope_factors(weights, model, head_dim, theta)
    state = {k: torch.from_numpy(v) for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = config.tie_word_embeddings
    assert not unexpected, unexpected
    assert set(missing) <= ({"lm_head.weight"} if tied else set()), missing
    if tied:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    with torch.no_grad():
        logits = model(torch.tensor([tokens])).logits[0]
    assert logits.dtype == torch.float64
    return logits.numpy(), weights, types


def convert(realizar, family, dtype, out):
    subprocess.run(
        [realizar, "convert", "--from", hf_dir(family), "--dtype", dtype, "--out", out],
        check=True,
    )


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_f32(realizar, family, tmp):
    """F32 GGUF: bit-identical weights, hence exactly fixtures/parity/<family>/logits.f32."""
    from safetensors.numpy import load_file

    path = os.path.join(tmp, f"{family}-f32.gguf")
    convert(realizar, family, "f32", path)
    logits, weights, _ = reference_logits(path, family)
    source = load_file(os.path.join(hf_dir(family), "model.safetensors"))
    for name, values in source.items():
        assert np.array_equal(weights[name], values.astype(np.float64)), name
    expected = np.fromfile(os.path.join(hf_dir(family), "logits.f32"), dtype="<f4")
    assert np.array_equal(logits.astype("<f4").ravel(), expected), family
    print(f"{family}-f32: weights and logits identical to the safetensors reference")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realizar", default=os.path.join(ROOT, "target", "release", "realizar"))
    parser.add_argument("--skip-build", action="store_true",
                        help="reuse fixtures/parity-gguf/hf/*/model.safetensors")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for family in WIDE:
        if not (args.skip_build and os.path.exists(os.path.join(hf_dir(family), "model.safetensors"))):
            build_wide(family)

    manifest = {
        "reference": "transformers eager attention in float64 (CPU) on the weights of each GGUF as "
        "gguf-py dequantises them, q/k rows un-permuted for the llama architecture",
        "converter": "realizar convert --from <hf> --dtype <dtype> --out <gguf>",
        "logits": "<case>.logits.f32: f32 little-endian [len(tokens), vocab_size]",
        "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "gguf-py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "cases": {},
        "f32_checked_bit_identical": F32_FAMILIES,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for family in F32_FAMILIES:
            check_f32(args.realizar, family, tmp)
    for family, dtype in CASES:
        case = f"{family}-{dtype}"
        path = os.path.join(OUT, f"{case}.gguf")
        convert(args.realizar, family, dtype, path)
        logits, _, types = reference_logits(path, family)
        logits.astype("<f4").tofile(os.path.join(OUT, f"{case}.logits.f32"))
        unquantised = np.fromfile(os.path.join(hf_dir(family), "logits.f32"), dtype="<f4")
        quant_error = float(np.abs(logits.ravel() - unquantised).max() / np.abs(unquantised).max())
        manifest["cases"][case] = {
            "hf": os.path.relpath(hf_dir(family), OUT),
            "dtype": dtype,
            "tensor_types": types,
            "sha256": sha256(path),
            "max_abs_logit": float(np.abs(logits).max()),
            "quantisation_error_vs_unquantised": quant_error,
        }
        print(f"{case}: {os.path.getsize(path) / 1024:.0f} KiB {types} quant err {quant_error:.2e}")
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(
        os.path.getsize(os.path.join(dirpath, name))
        for dirpath, _, names in os.walk(OUT)
        for name in names
        if name != "model.safetensors"
    )
    print(f"fixtures/parity-gguf: {total / 1e6:.2f} MB committed")
    assert total < 4_000_000, total


if __name__ == "__main__":
    main()
