//! `ModelConfig::from_hf_json` over config.json files of each family, as published on the
//! Hugging Face hub (trimmed to the fields that matter), in both rope spellings.

use model_llama::config::{Architecture, ConfigError, ModelConfig, RopePairing};

const LLAMA2_7B: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false, "vocab_size": 32000
}"#;

const LLAMA31_8B_ROPE_SCALING: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
  "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "vocab_size": 128256
}"#;

const LLAMA31_8B_ROPE_PARAMETERS: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072,
  "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_parameters": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192, "rope_type": "llama3",
                      "rope_theta": 500000.0},
  "tie_word_embeddings": false, "vocab_size": 128256
}"#;

const MISTRAL_7B_V01: &str = r#"{
  "architectures": ["MistralForCausalLM"], "hidden_act": "silu", "hidden_size": 4096,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "vocab_size": 32000
}"#;

const QWEN25_05B: &str = r#"{
  "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 896,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 131072, "tie_word_embeddings": true, "use_sliding_window": false,
  "vocab_size": 151936
}"#;

const QWEN3_06B: &str = r#"{
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "head_dim": 128,
  "hidden_act": "silu", "hidden_size": 1024, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "model_type": "qwen3", "num_attention_heads": 16,
  "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
  "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null,
  "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936
}"#;

fn with(base: &str, patch: serde_json::Value) -> String {
    let mut value: serde_json::Value = serde_json::from_str(base).unwrap();
    for (k, v) in patch.as_object().unwrap() {
        value[k] = v.clone();
    }
    value.to_string()
}

#[test]
fn llama2_defaults() {
    let c = ModelConfig::from_hf_json(LLAMA2_7B).unwrap();
    assert_eq!(c.arch, Architecture::Llama);
    assert_eq!((c.hidden_size, c.n_layers, c.ffn_size), (4096, 32, 11008));
    assert_eq!((c.n_heads, c.n_kv_heads, c.head_dim), (32, 32, 128));
    assert_eq!(c.rope_theta, 10_000.0);
    assert_eq!(c.rope_freq_factors, None);
    assert_eq!(c.rope_pairing, RopePairing::HalfSplit);
    assert_eq!(c.max_context, 4096);
    assert_eq!(c.rms_norm_eps, 1e-5);
    assert!(!c.qkv_bias && !c.attn_out_bias && !c.qk_norm && !c.tied_embeddings);
}

#[test]
fn llama31_rope_spellings_agree() {
    let old = ModelConfig::from_hf_json(LLAMA31_8B_ROPE_SCALING).unwrap();
    let new = ModelConfig::from_hf_json(LLAMA31_8B_ROPE_PARAMETERS).unwrap();
    assert_eq!(old, new);
    assert_eq!(new.rope_theta, 500_000.0);
    assert_eq!((new.n_kv_heads, new.kv_dim(), new.q_dim()), (8, 1024, 4096));
    let factors = new
        .rope_freq_factors
        .as_ref()
        .expect("llama3 scaling gives factors");
    assert_eq!(factors.len(), 64);
    assert_eq!((factors[0], factors[63]), (1.0, 8.0));
}

#[test]
fn llama3_factor_bands_of_llama31() {
    // Wavelength 2π·500000^(i/64) crosses 8192/4 = 2048 at i ≈ 28.2 and 8192/1 at i ≈ 34.99:
    // pairs 0..=28 keep their frequency, 29..=34 are interpolated, 35.. are divided by 8.
    let c = ModelConfig::from_hf_json(LLAMA31_8B_ROPE_SCALING).unwrap();
    let f = c.rope_freq_factors.unwrap();
    let first_scaled = f.iter().position(|&x| x > 1.0).unwrap();
    let first_full = f.iter().position(|&x| x == 8.0).unwrap();
    assert_eq!((first_scaled, first_full), (29, 35));
}

#[test]
fn mistral_sliding_window_caps_context() {
    let c = ModelConfig::from_hf_json(MISTRAL_7B_V01).unwrap();
    assert_eq!(c.arch, Architecture::Mistral);
    assert_eq!(c.max_context, 4096);
    let no_window = ModelConfig::from_hf_json(&with(
        MISTRAL_7B_V01,
        serde_json::json!({"sliding_window": null}),
    ))
    .unwrap();
    assert_eq!(no_window.max_context, 32768);
}

#[test]
fn qwen2_has_qkv_bias_and_ties() {
    let c = ModelConfig::from_hf_json(QWEN25_05B).unwrap();
    assert_eq!(c.arch, Architecture::Qwen2);
    assert!(c.qkv_bias && !c.attn_out_bias && !c.qk_norm && c.tied_embeddings);
    assert_eq!(c.head_dim, 64);
    assert_eq!(
        c.max_context, 32768,
        "use_sliding_window false leaves the context alone"
    );
    assert_eq!(c.rope_theta, 1e6);
    // Whatever attention_bias says, Qwen2 q/k/v carry a bias and o_proj does not.
    let c = ModelConfig::from_hf_json(&with(
        QWEN25_05B,
        serde_json::json!({"attention_bias": false}),
    ))
    .unwrap();
    assert!(c.qkv_bias && !c.attn_out_bias);
}

#[test]
fn qwen3_head_dim_differs_and_qk_norm() {
    let c = ModelConfig::from_hf_json(QWEN3_06B).unwrap();
    assert_eq!(c.arch, Architecture::Qwen3);
    assert_eq!(c.head_dim, 128);
    assert_ne!(c.head_dim, c.hidden_size / c.n_heads);
    assert_eq!((c.q_dim(), c.kv_dim()), (2048, 1024));
    assert!(c.qk_norm && !c.qkv_bias && c.tied_embeddings);
    let with_bias = ModelConfig::from_hf_json(&with(
        QWEN3_06B,
        serde_json::json!({"attention_bias": true}),
    ))
    .unwrap();
    assert!(with_bias.qkv_bias && with_bias.attn_out_bias);
}

#[test]
fn model_type_alone_is_enough() {
    let mut v: serde_json::Value = serde_json::from_str(QWEN3_06B).unwrap();
    v.as_object_mut().unwrap().remove("architectures");
    assert_eq!(
        ModelConfig::from_hf_config(&v).unwrap().arch,
        Architecture::Qwen3
    );
}

#[test]
fn unsupported_rope_types_are_errors() {
    for rope_type in ["yarn", "linear", "dynamic", "longrope"] {
        let scaling = serde_json::json!({"rope_type": rope_type, "factor": 4.0,
                                         "original_max_position_embeddings": 8192});
        for key in ["rope_scaling", "rope_parameters"] {
            let text = with(LLAMA2_7B, serde_json::json!({ key: scaling }));
            match ModelConfig::from_hf_json(&text) {
                Err(ConfigError::UnsupportedRopeType(t)) => assert_eq!(t, rope_type),
                other => panic!("{key} {rope_type}: expected UnsupportedRopeType, got {other:?}"),
            }
        }
    }
    // The legacy `type` key is read as well.
    let text = with(
        LLAMA2_7B,
        serde_json::json!({"rope_scaling": {"type": "linear", "factor": 2.0}}),
    );
    assert!(matches!(
        ModelConfig::from_hf_json(&text),
        Err(ConfigError::UnsupportedRopeType(_))
    ));
}

#[test]
fn unsupported_models_are_errors() {
    let gpt2 = with(
        LLAMA2_7B,
        serde_json::json!({"architectures": ["GPT2LMHeadModel"]}),
    );
    assert!(
        matches!(ModelConfig::from_hf_json(&gpt2), Err(ConfigError::UnsupportedArchitecture(a)) if a == "GPT2LMHeadModel")
    );
    let gelu = with(LLAMA2_7B, serde_json::json!({"hidden_act": "gelu"}));
    assert!(matches!(
        ModelConfig::from_hf_json(&gelu),
        Err(ConfigError::Unsupported(_))
    ));
    let partial = with(LLAMA2_7B, serde_json::json!({"partial_rotary_factor": 0.5}));
    assert!(matches!(
        ModelConfig::from_hf_json(&partial),
        Err(ConfigError::Unsupported(_))
    ));
    let mlp_bias = with(LLAMA2_7B, serde_json::json!({"mlp_bias": true}));
    assert!(matches!(
        ModelConfig::from_hf_json(&mlp_bias),
        Err(ConfigError::Unsupported(_))
    ));
}

#[test]
fn malformed_configs_are_errors() {
    assert!(matches!(
        ModelConfig::from_hf_json("{"),
        Err(ConfigError::Json(_))
    ));
    let no_layers = {
        let mut v: serde_json::Value = serde_json::from_str(LLAMA2_7B).unwrap();
        v.as_object_mut().unwrap().remove("num_hidden_layers");
        v
    };
    assert!(
        matches!(ModelConfig::from_hf_config(&no_layers), Err(ConfigError::Missing(f)) if f == "num_hidden_layers")
    );
    let bad_gqa = with(LLAMA2_7B, serde_json::json!({"num_key_value_heads": 5}));
    assert!(matches!(
        ModelConfig::from_hf_json(&bad_gqa),
        Err(ConfigError::Invalid { .. })
    ));
    let negative = with(LLAMA2_7B, serde_json::json!({"hidden_size": -1}));
    assert!(matches!(
        ModelConfig::from_hf_json(&negative),
        Err(ConfigError::Invalid { .. })
    ));
    let zero = with(LLAMA2_7B, serde_json::json!({"vocab_size": 0}));
    assert!(matches!(
        ModelConfig::from_hf_json(&zero),
        Err(ConfigError::Invalid { .. })
    ));
}
