//! Parity with Hugging Face transformers on tiny random models of each family
//! (fixtures/parity/<name>/, written with float64 reference logits by
//! scripts/hf_reference_logits.py): the CPU forward's logits at every position must match with
//! max |Δ| ≤ 1e-5 · max |logit| (measured: ≤ 3e-7; f32 activations against a float64 reference).

use model_llama::config::{Architecture, RopePairing};
use model_llama::forward::Model;
use std::path::PathBuf;

fn parity_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/parity")
        .join(name)
}

/// Loads `fixtures/parity/<name>`, runs its token sequence as one prefill and step by step,
/// and compares both with the reference logits. Returns the loaded model for extra checks.
fn check(name: &str) -> Model {
    let dir = parity_dir(name);
    let reference = std::fs::read_to_string(dir.join("reference.json")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with scripts/hf_reference_logits.py",
            dir.display()
        )
    });
    let reference: serde_json::Value = serde_json::from_str(&reference).unwrap();
    let tokens: Vec<u32> = reference["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    let bytes = std::fs::read(dir.join("logits.f32")).unwrap();
    let expected: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();

    let model = Model::load(&dir).unwrap();
    let vocab = model.config().vocab_size;
    assert_eq!(expected.len(), tokens.len() * vocab);
    let max_ref = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let relative_error = |ours: &[f32]| {
        ours.iter()
            .zip(&expected)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
            / max_ref
    };

    let at_once = model
        .session(tokens.len())
        .unwrap()
        .prefill(&tokens)
        .unwrap();
    let err = relative_error(&at_once);
    eprintln!("{name}: prefill max |Δlogit| / max |logit| = {err:.3e}");
    assert!(
        err <= 1e-5,
        "{name}: prefill relative logit error {err:.3e}"
    );

    let mut session = model.session(tokens.len()).unwrap();
    let mut stepwise = Vec::new();
    for &t in &tokens {
        stepwise.extend(session.decode(t).unwrap());
    }
    let err = relative_error(&stepwise);
    assert!(
        err <= 1e-5,
        "{name}: step-by-step relative logit error {err:.3e}"
    );
    model
}

#[test]
fn llama2() {
    let model = check("llama2");
    let c = model.config();
    assert_eq!(
        (c.arch, c.rope_pairing, c.n_heads, c.n_kv_heads),
        (Architecture::Llama, RopePairing::HalfSplit, 4, 4)
    );
}

#[test]
fn llama3_rope_scaling() {
    let model = check("llama3");
    let factors = model
        .config()
        .rope_freq_factors
        .clone()
        .expect("llama3 rope scaling");
    assert!(
        factors.contains(&1.0)
            && factors.contains(&8.0)
            && factors.iter().any(|&f| f > 1.0 && f < 8.0)
    );
}

#[test]
fn mistral() {
    assert_eq!(check("mistral").config().arch, Architecture::Mistral);
}

#[test]
fn qwen2_bias_and_tied_embeddings() {
    let model = check("qwen2");
    let c = model.config();
    assert!(c.qkv_bias && c.tied_embeddings && model.weights().output.is_none());
}

#[test]
fn qwen3_qk_norm_and_wide_heads() {
    let model = check("qwen3");
    let c = model.config();
    assert!(c.qk_norm && c.qkv_bias && c.attn_out_bias);
    assert_ne!(c.head_dim, c.hidden_size / c.n_heads);
}
