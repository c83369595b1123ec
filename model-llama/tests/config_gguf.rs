//! `ModelConfig::from_gguf`: on the real tiny-code GGUF (checked against the same model's HF
//! config.json) and on hand-built metadata for each family and each error.

use model_llama::config::{Architecture, ConfigError, GgufMetadata, ModelConfig, RopePairing};
use model_llama::files::GgufFile;
use std::collections::HashMap;
use std::path::PathBuf;

fn tiny_code(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/models/tiny-code")
        .join(name)
}

#[test]
fn tiny_code_gguf_config_equals_its_hf_config() {
    let gguf =
        ModelConfig::from_gguf(&GgufFile::open(tiny_code("tiny-code-Q8_0.gguf")).unwrap()).unwrap();
    let hf = ModelConfig::from_hf_json(&std::fs::read_to_string(tiny_code("config.json")).unwrap())
        .unwrap();
    // The converter permuted q/k rows: GGUF rotates adjacent pairs where HF rotates halves.
    assert_eq!(gguf.rope_pairing, RopePairing::Adjacent);
    assert_eq!(hf.rope_pairing, RopePairing::HalfSplit);
    assert_eq!(
        ModelConfig {
            rope_pairing: RopePairing::HalfSplit,
            ..gguf
        },
        hf
    );
}

#[derive(Default)]
struct Meta {
    ints: HashMap<String, i128>,
    floats: HashMap<String, f64>,
    strs: HashMap<String, String>,
    tensors: HashMap<String, (Vec<u64>, Vec<f32>)>,
}

impl GgufMetadata for Meta {
    fn meta_int(&self, key: &str) -> Result<Option<i128>, String> {
        if self.strs.contains_key(key) {
            return Err("string".into());
        }
        Ok(self.ints.get(key).copied())
    }
    fn meta_float(&self, key: &str) -> Result<Option<f64>, String> {
        Ok(self
            .floats
            .get(key)
            .copied()
            .or(self.ints.get(key).map(|&i| i as f64)))
    }
    fn meta_str(&self, key: &str) -> Result<Option<&str>, String> {
        Ok(self.strs.get(key).map(String::as_str))
    }
    fn tensor_shape(&self, name: &str) -> Option<Vec<u64>> {
        self.tensors.get(name).map(|t| t.0.clone())
    }
    fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, String> {
        self.tensors
            .get(name)
            .map(|t| t.1.clone())
            .ok_or_else(|| "missing".into())
    }
}

/// Metadata of a small model of `arch`, as llama.cpp's converter writes it.
fn meta(arch: &str) -> Meta {
    let mut m = Meta::default();
    m.strs.insert("general.architecture".into(), arch.into());
    for (k, v) in [
        ("embedding_length", 128),
        ("block_count", 3),
        ("feed_forward_length", 320),
        ("attention.head_count", 4),
        ("attention.head_count_kv", 2),
        ("context_length", 4096),
    ] {
        m.ints.insert(format!("{arch}.{k}"), v);
    }
    m.floats
        .insert(format!("{arch}.attention.layer_norm_rms_epsilon"), 1e-6);
    m.floats.insert(format!("{arch}.rope.freq_base"), 1e6);
    for t in ["token_embd.weight", "output.weight"] {
        m.tensors.insert(t.into(), (vec![1000, 128], vec![]));
    }
    m
}

#[test]
fn llama_defaults_and_vocab_from_embedding() {
    let c = ModelConfig::from_gguf(&meta("llama")).unwrap();
    assert_eq!(c.arch, Architecture::Llama);
    assert_eq!(
        (
            c.hidden_size,
            c.n_layers,
            c.ffn_size,
            c.n_heads,
            c.n_kv_heads
        ),
        (128, 3, 320, 4, 2)
    );
    assert_eq!(
        (c.head_dim, c.rope_dim, c.vocab_size, c.max_context),
        (32, 32, 1000, 4096)
    );
    assert_eq!(c.rope_pairing, RopePairing::Adjacent);
    assert!(!c.qkv_bias && !c.qk_norm && !c.tied_embeddings && c.rope_freq_factors.is_none());
}

#[test]
fn llama3_rope_freqs_tensor_becomes_the_factors() {
    let mut m = meta("llama");
    let factors: Vec<f32> = (0..16).map(|i| 1.0 + i as f32 * 0.5).collect();
    m.tensors
        .insert("rope_freqs.weight".into(), (vec![16], factors.clone()));
    assert_eq!(
        ModelConfig::from_gguf(&m).unwrap().rope_freq_factors,
        Some(factors)
    );
    m.tensors
        .insert("rope_freqs.weight".into(), (vec![8], vec![1.0; 8]));
    assert!(matches!(
        ModelConfig::from_gguf(&m),
        Err(ConfigError::Invalid {
            field: "rope_freq_factors",
            ..
        })
    ));
}

#[test]
fn qwen2_bias_and_tied_from_tensor_presence() {
    let mut m = meta("qwen2");
    m.tensors.remove("output.weight");
    m.tensors
        .insert("blk.0.attn_q.bias".into(), (vec![128], vec![]));
    let c = ModelConfig::from_gguf(&m).unwrap();
    assert_eq!(c.arch, Architecture::Qwen2);
    assert_eq!(c.rope_pairing, RopePairing::HalfSplit);
    assert!(c.qkv_bias && c.tied_embeddings && !c.attn_out_bias);
}

#[test]
fn qwen3_key_length_and_required_qk_norm() {
    let mut m = meta("qwen3");
    m.ints.insert("qwen3.attention.key_length".into(), 64);
    m.ints.insert("qwen3.attention.value_length".into(), 64);
    assert!(matches!(
        ModelConfig::from_gguf(&m),
        Err(ConfigError::Missing(_))
    ));
    m.tensors
        .insert("blk.0.attn_q_norm.weight".into(), (vec![64], vec![]));
    let c = ModelConfig::from_gguf(&m).unwrap();
    assert_eq!((c.head_dim, c.q_dim(), c.kv_dim()), (64, 256, 128));
    assert!(c.qk_norm);
    m.ints.insert("qwen3.attention.value_length".into(), 32);
    assert!(matches!(
        ModelConfig::from_gguf(&m),
        Err(ConfigError::Unsupported(_))
    ));
}

#[test]
fn unsupported_gguf_models_are_errors() {
    let mut m = meta("llama");
    m.strs
        .insert("general.architecture".into(), "gemma2".into());
    assert!(
        matches!(ModelConfig::from_gguf(&m), Err(ConfigError::UnsupportedArchitecture(a)) if a == "gemma2")
    );

    for (kind, factor) in [("yarn", 4.0), ("linear", 2.0)] {
        let mut m = meta("llama");
        m.strs.insert("llama.rope.scaling.type".into(), kind.into());
        m.floats.insert("llama.rope.scaling.factor".into(), factor);
        assert!(
            matches!(
                ModelConfig::from_gguf(&m),
                Err(ConfigError::UnsupportedRopeType(_))
            ),
            "{kind}"
        );
    }
    let mut m = meta("llama");
    m.floats.insert("llama.rope.scale_linear".into(), 4.0);
    assert!(matches!(
        ModelConfig::from_gguf(&m),
        Err(ConfigError::UnsupportedRopeType(_))
    ));

    let mut m = meta("llama");
    m.ints.insert("llama.rope.dimension_count".into(), 16);
    assert!(
        matches!(ModelConfig::from_gguf(&m), Err(ConfigError::Unsupported(_))),
        "partial rotary"
    );

    let mut m = meta("llama");
    m.strs.insert("llama.block_count".into(), "three".into());
    assert!(matches!(
        ModelConfig::from_gguf(&m),
        Err(ConfigError::Invalid { .. })
    ));

    let mut m = meta("llama");
    m.ints.remove("llama.feed_forward_length");
    assert!(
        matches!(ModelConfig::from_gguf(&m), Err(ConfigError::Missing(k)) if k == "llama.feed_forward_length")
    );
}

#[test]
fn sliding_window_caps_the_context() {
    let mut m = meta("llama");
    m.ints.insert("llama.attention.sliding_window".into(), 1024);
    assert_eq!(ModelConfig::from_gguf(&m).unwrap().max_context, 1024);
}
