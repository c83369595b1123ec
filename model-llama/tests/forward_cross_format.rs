//! The same random weights (testmodel generator, one seed) as a Hugging Face safetensors
//! checkpoint and as GGUF files: F32 GGUF must give the safetensors logits (this exercises the
//! GGUF config path, the permuted llama q/k rows with adjacent-pair RoPE, tied embeddings and
//! Qwen2 biases); quantised GGUF files must stay close, within their quantisation error.

use model_llama::forward::Model;
use model_llama::testmodel::{Arch, ModelSpec, OutputFormat, Preset, WeightDtype, make_model};
use std::path::{Path, PathBuf};

const SEED: u64 = 11;

fn make(arch: Arch, dtype: WeightDtype, format: OutputFormat, dir: &Path) -> PathBuf {
    let out = match format {
        OutputFormat::Gguf => dir.join(format!("{arch}-{dtype}.gguf")),
        OutputFormat::Safetensors => dir.join(format!("{arch}-hf")),
    };
    let spec = ModelSpec {
        arch,
        preset: Preset::Tiny,
        dtype,
        format,
        out: out.clone(),
        seed: SEED,
        vocab_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab"),
    };
    make_model(&spec).unwrap();
    out
}

/// Logits of every position of a fixed token sequence, `[tokens, vocab]`.
fn logits(path: &Path) -> Vec<f32> {
    let model = Model::load(path).unwrap();
    let tokens: Vec<u32> = (0..12).map(|i| 1 + (i * 7919) % 31000).collect();
    model
        .session(tokens.len())
        .unwrap()
        .prefill(&tokens)
        .unwrap()
}

/// max |a - b| / max |b|.
fn relative_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let max_b = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / max_b
}

fn check(arch: Arch, quantised: &[(WeightDtype, f32)]) {
    let dir = std::env::temp_dir().join(format!(
        "realizar-cross-format-{arch}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let reference = logits(&make(
        arch,
        WeightDtype::F32,
        OutputFormat::Safetensors,
        &dir,
    ));
    let f32_gguf = logits(&make(arch, WeightDtype::F32, OutputFormat::Gguf, &dir));
    let err = relative_error(&f32_gguf, &reference);
    eprintln!("{arch} F32 gguf vs safetensors: {err:.3e}");
    assert!(
        err < 1e-5,
        "{arch}: F32 GGUF differs from safetensors by {err:.3e}"
    );
    for &(dtype, tolerance) in quantised {
        let path = make(arch, dtype, OutputFormat::Gguf, &dir);
        let err = relative_error(&logits(&path), &reference);
        eprintln!("{arch} {dtype} gguf vs F32 safetensors: {err:.3e}");
        assert!(
            err < tolerance,
            "{arch} {dtype}: {err:.3e} ≥ {tolerance:.0e}"
        );
        std::fs::remove_file(path).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// Bounds on max |Δlogit| / max |logit| over 12 positions × 32000 logits, from the weight
// error of each type: F16 rounds to 2^-11 relative (measured 5e-4); Q8_0 to 1/254 of each
// 32-block's absmax (measured 1.3-1.5e-2); Q4_K_M stores most matrices in 4 bits with 6-bit
// sub-block scales, about 1/30 of a sub-block's range (measured 1.3-1.7e-1). The weights are
// the generator's fixed seed, so the measured values are deterministic.
#[test]
fn llama_gguf_matches_safetensors() {
    check(
        Arch::Llama,
        &[
            (WeightDtype::F16, 2e-3),
            (WeightDtype::Q8_0, 2e-2),
            (WeightDtype::Q4KM, 2e-1),
        ],
    );
}

#[test]
fn qwen2_gguf_matches_safetensors() {
    check(
        Arch::Qwen2,
        &[
            (WeightDtype::F16, 2e-3),
            (WeightDtype::Q8_0, 2e-2),
            (WeightDtype::Q4KM, 2e-1),
        ],
    );
}
