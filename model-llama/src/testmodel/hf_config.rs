//! `config.json` and `generation_config.json` of a Hugging Face checkpoint.
//!
//! Fields as transformers' `LlamaConfig` / `Qwen2Config` serialise them (the `config.json` of
//! meta-llama/Llama-3.2-1B and Qwen/Qwen2.5-0.5B are the models).

use super::spec::{Arch, ModelDims, WeightDtype};
use serde_json::{Value, json};

/// Token ids the tokenizer defines; they go into both files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

/// The `config.json` object.
pub fn config_json(
    arch: Arch,
    dims: &ModelDims,
    dtype: WeightDtype,
    tokens: SpecialTokens,
) -> Value {
    let torch_dtype = match dtype {
        WeightDtype::Bf16 => "bfloat16",
        WeightDtype::F16 => "float16",
        _ => "float32",
    };
    let rope_scaling = dims.rope_scaling.map_or(Value::Null, |s| {
        json!({
            "rope_type": "llama3",
            "factor": s.factor,
            "low_freq_factor": s.low_freq_factor,
            "high_freq_factor": s.high_freq_factor,
            "original_max_position_embeddings": s.original_max_position_embeddings,
        })
    });
    let mut config = json!({
        "architectures": [match arch { Arch::Llama => "LlamaForCausalLM", Arch::Qwen2 => "Qwen2ForCausalLM" }],
        "model_type": arch.name(),
        "hidden_size": dims.hidden,
        "intermediate_size": dims.ffn,
        "num_hidden_layers": dims.layers,
        "num_attention_heads": dims.heads,
        "num_key_value_heads": dims.kv_heads,
        "head_dim": dims.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": dims.context_length,
        "rms_norm_eps": shortest_f64(dims.rms_eps),
        "rope_theta": dims.rope_theta,
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": dims.tied_embeddings,
        "vocab_size": dims.vocab,
        "bos_token_id": tokens.bos,
        "eos_token_id": tokens.eos,
        "initializer_range": 0.02,
        "attention_dropout": 0.0,
        "use_cache": true,
        "torch_dtype": torch_dtype,
    });
    let extra = match arch {
        Arch::Llama => json!({ "attention_bias": false, "mlp_bias": false, "pretraining_tp": 1 }),
        Arch::Qwen2 => json!({
            "use_sliding_window": false,
            "sliding_window": dims.context_length,
            "max_window_layers": dims.layers,
        }),
    };
    if let (Value::Object(config), Value::Object(extra)) = (&mut config, extra) {
        config.extend(extra);
    }
    config
}

/// The `generation_config.json` object (greedy by default, as a base model's).
pub fn generation_config_json(tokens: SpecialTokens) -> Value {
    json!({
        "bos_token_id": tokens.bos,
        "eos_token_id": tokens.eos,
        "do_sample": false,
    })
}

/// The f64 whose shortest decimal equals the f32's (`1e-5_f32` → `1e-5`, not `9.99999974e-6`),
/// as Hugging Face writes these fields.
fn shortest_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

#[cfg(test)]
mod tests {
    use super::shortest_f64;

    #[test]
    fn f32_fields_are_written_as_their_shortest_decimal() {
        assert_eq!(shortest_f64(1e-5), 1e-5);
        assert_eq!(shortest_f64(1e-6), 1e-6);
        assert_eq!(shortest_f64(500000.0), 500000.0);
    }
}
