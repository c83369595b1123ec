#!/usr/bin/env python3
"""Tiny random Hugging Face models and their float64 reference logits, for CPU-forward parity.

For each family (llama2, llama3 with llama3 rope scaling, mistral, qwen2, qwen3) this builds a
small model with transformers from a config and a seed, fills every parameter (norm weights and
biases included, which transformers would initialise to 1 / 0) with seeded random values, saves
it as F32 safetensors + config.json under fixtures/parity/<name>/, and writes the logits of a
fixed token sequence computed in float64 from exactly the saved F32 weights:

  fixtures/parity/<name>/model.safetensors   F32 weights (save_pretrained)
  fixtures/parity/<name>/config.json
  fixtures/parity/<name>/reference.json      tokens, shapes, versions
  fixtures/parity/<name>/logits.f32          f32 LE [len(tokens), vocab_size]

It also recomputes the logits of fixtures/models/tiny-code's reference sequences in float64
(eager attention, CPU) into fixtures/parity/tiny-code/refN.logits.f32: the shared reference
files were computed elsewhere in float32 and differ from transformers' own CPU forward by up to
1.9e-4 of max |logit|, too loose a yardstick for an f32 forward on trained weights.

Each directory stays well under 1 MB. Needs torch and transformers (CPU is enough):
    python3 scripts/hf_reference_logits.py [--out fixtures/parity]
"""

import argparse
import json
import os

import numpy as np
import torch
import transformers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

VOCAB = 300
N_TOKENS = 40
TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rms_norm_eps=1e-5,
    hidden_act="silu",
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=None,
)


def rope_kwargs(theta, scaling=None):
    """Rope settings in the spelling of the installed transformers (5.x: rope_parameters)."""
    if TRANSFORMERS_MAJOR >= 5:
        params = {"rope_type": "default", "rope_theta": theta}
        if scaling:
            params.update(scaling)
        return {"rope_parameters": params}
    return {"rope_theta": theta, "rope_scaling": scaling}


# head_dim 16 at theta 10000: wavelengths 2π·10000^(i/8) = 6.3, 20, 63, 199, 628, ... so with
# original_max_position_embeddings 256, pairs 0-2 keep their frequency (< 256/4), pair 3 is
# interpolated, pairs 4-7 are divided by the factor: all three llama3 bands are exercised.
LLAMA3_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 256,
}

MODELS = {
    "llama2": (
        LlamaConfig,
        LlamaForCausalLM,
        dict(COMMON, num_key_value_heads=4, tie_word_embeddings=False, **rope_kwargs(10000.0)),
    ),
    "llama3": (
        LlamaConfig,
        LlamaForCausalLM,
        dict(COMMON, tie_word_embeddings=False, **rope_kwargs(10000.0, LLAMA3_SCALING)),
    ),
    "mistral": (
        MistralConfig,
        MistralForCausalLM,
        dict(COMMON, sliding_window=4096, tie_word_embeddings=False, **rope_kwargs(10000.0)),
    ),
    # Qwen2: q/k/v biases always; tied embeddings as in Qwen2.5-0.5B.
    "qwen2": (
        Qwen2Config,
        Qwen2ForCausalLM,
        dict(COMMON, use_sliding_window=False, tie_word_embeddings=True, **rope_kwargs(1000000.0)),
    ),
    # Qwen3: head_dim 32 != 64 / 4, q/k RMSNorm; attention_bias on to also cover o_proj's bias.
    "qwen3": (
        Qwen3Config,
        Qwen3ForCausalLM,
        dict(
            COMMON,
            head_dim=32,
            attention_bias=True,
            use_sliding_window=False,
            tie_word_embeddings=False,
            **rope_kwargs(1000000.0),
        ),
    ),
}


def randomise(model, seed):
    """Seeded values for every parameter: matrices ~ N(0, 1/fan_in), norm weights ~ 1 + N(0, 0.1²),
    biases ~ N(0, 0.1²). Activations then stay O(1) and the logits are far from uniform."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif name.endswith("embed_tokens.weight"):
                p.copy_(noise)
            else:
                p.copy_(noise / p.shape[-1] ** 0.5)


def build(name, config_cls, model_cls, kwargs, seed, out_dir):
    config = config_cls(**kwargs)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32).eval()
    randomise(model, seed)
    model.tie_weights()

    path = os.path.join(out_dir, name)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)

    tokens = torch.randint(0, VOCAB, (N_TOKENS,), generator=torch.Generator().manual_seed(seed + 1))
    tokens[0] = config.bos_token_id
    # float64 from exactly the saved F32 values (RoPE cos/sin stay f32 inside transformers).
    model64 = model.to(torch.float64)
    with torch.no_grad():
        logits = model64(tokens[None, :]).logits[0]
    assert logits.dtype == torch.float64 and logits.shape == (N_TOKENS, VOCAB)
    logits.numpy().astype("<f4").tofile(os.path.join(path, "logits.f32"))

    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(
            {
                "reference": "transformers eager attention in float64 on the F32 weights of model.safetensors",
                "architecture": model_cls.__name__,
                "seed": seed,
                "tokens": tokens.tolist(),
                "logits": "logits.f32: f32 little-endian [len(tokens), vocab_size], logits at every position",
                "vocab_size": VOCAB,
                "max_abs_logit": float(logits.abs().max()),
                "transformers": transformers.__version__,
                "torch": torch.__version__,
            },
            f,
            indent=1,
        )
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    print(f"{name}: {size / 1024:.0f} KiB, max |logit| {float(logits.abs().max()):.3f}")
    assert size < 1 << 20, f"{name} is {size} bytes"


def tiny_code_reference(out_dir):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models", "tiny-code")
    path = os.path.join(out_dir, "tiny-code")
    os.makedirs(path, exist_ok=True)
    model = LlamaForCausalLM.from_pretrained(src, dtype=torch.float64, attn_implementation="eager").eval()
    with open(os.path.join(src, "reference.json")) as f:
        cases = json.load(f)["cases"]
    for i, case in enumerate(cases):
        ids = case["prompt_ids"] + case["greedy_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        assert logits.dtype == torch.float64
        logits.numpy().astype("<f4").tofile(os.path.join(path, f"ref{i}.logits.f32"))
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(
            {
                "reference": "transformers eager attention in float64 (CPU) on the F16 weights of "
                "fixtures/models/tiny-code/model.safetensors",
                "sequences": "prompt_ids + greedy_ids of each case of fixtures/models/tiny-code/reference.json",
                "logits": "refN.logits.f32: f32 little-endian [len(sequence), 258]",
                "transformers": transformers.__version__,
                "torch": torch.__version__,
            },
            f,
            indent=1,
        )
    print(f"tiny-code: float64 logits of {len(cases)} sequences")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "parity")
    parser.add_argument("--out", default=default_out)
    args = parser.parse_args()
    for i, (name, (config_cls, model_cls, kwargs)) in enumerate(MODELS.items()):
        build(name, config_cls, model_cls, kwargs, seed=1000 + i, out_dir=args.out)
    tiny_code_reference(args.out)


if __name__ == "__main__":
    np.random.seed(0)
    main()
