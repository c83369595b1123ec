//! Whole-model parity of GGUF files against an independent float64 reference.
//!
//! The GGUF files are the Hugging Face parity models (fixtures/parity/<family>, and the wider
//! fixtures/parity-gguf/hf/<family>-h256 whose Q4_K_M holds real Q4_K / Q6_K tensors) converted by
//! `testmodel::from_hf` (`realizar convert`). scripts/gguf_reference_logits.py reads each file
//! with gguf-py, dequantises every tensor with `gguf.quants.dequantize`, un-permutes the llama q/k
//! rows, loads the weights into the transformers model in float64 and writes the logits of the
//! family's token sequence (fixtures/parity-gguf/<family>-<dtype>.logits.f32).
//!
//! Bounds, as max |Δlogit| over every position ≤ bound · max |reference logit|:
//! - F32, F16, Q8_0, Q4_K_M (with its Q5_0 / Q8_0 fallbacks at hidden 64, Q4_K / Q6_K at 256):
//!   1e-5, the bound of the safetensors parity test. The reference runs on exactly the weights
//!   the file holds (gguf-py's dequantisation is bit-identical to ggml's and to ours), so
//!   quantisation error cancels; what is left is our f32 arithmetic against float64. The CPU
//!   forward dequantises each weight row to f32 and takes f32 dot products (forward/cpu_ops.rs),
//!   it never quantises activations to Q8_1, so no looser bound is needed. Measured: ≤ 3.8e-7
//!   for every case (prefill and step-by-step decode), a margin of 25x.
//! - F32 files are converted here and compared with fixtures/parity/<family>/logits.f32: the
//!   script checks that their dequantised weights equal the safetensors values bit for bit, so
//!   that is their gguf-py reference as well.
//! - A file whose llama q/k rows are left in Hugging Face order must fail that bound by far
//!   (measured relative error 0.52 and 0.62): the bound detects a wrong permutation.

use model_llama::files::GgufFile;
use model_llama::forward::Model;
use model_llama::testmodel::from_hf::{ConvertOptions, convert_hf_to_gguf};
use model_llama::testmodel::{RowOrder, WeightDtype};
use quant_formats::GgmlType;
use std::path::{Path, PathBuf};

/// max |Δlogit| / max |logit| allowed against the float64 reference (see the module comment).
const BOUND: f32 = 1e-5;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with scripts/gguf_reference_logits.py",
            path.display()
        )
    });
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The token sequence of a Hugging Face parity directory's reference.json.
fn tokens(hf_dir: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(hf_dir.join("reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect()
}

/// Where the family's Hugging Face checkpoint (config, tokens, unquantised logits) lives.
fn hf_dir(family: &str) -> PathBuf {
    if family.ends_with("-h256") {
        fixtures().join("parity-gguf/hf").join(family)
    } else {
        fixtures().join("parity").join(family)
    }
}

/// max |ours - reference| / max |reference|.
fn relative_error(ours: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(ours.len(), reference.len());
    let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
        / max_ref
}

/// Relative errors of the prefill logits and of the step-by-step decode logits of `gguf`.
fn errors(gguf: &Path, tokens: &[u32], reference: &[f32]) -> (f32, f32) {
    let model = Model::load(gguf).unwrap();
    assert_eq!(reference.len(), tokens.len() * model.config().vocab_size);
    let prefill = model
        .session(tokens.len())
        .unwrap()
        .prefill(tokens)
        .unwrap();
    let mut session = model.session(tokens.len()).unwrap();
    let mut stepwise = Vec::with_capacity(reference.len());
    for &t in tokens {
        stepwise.extend(session.decode(t).unwrap());
    }
    (
        relative_error(&prefill, reference),
        relative_error(&stepwise, reference),
    )
}

fn temp_gguf(case: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "realizar-gguf-parity-{case}-{}.gguf",
        std::process::id()
    ))
}

fn convert(family: &str, options: ConvertOptions, case: &str) -> PathBuf {
    let out = temp_gguf(case);
    convert_hf_to_gguf(&hf_dir(family), options, &out, &|_| {}).unwrap();
    out
}

fn assert_within_bound(case: &str, (prefill, stepwise): (f32, f32)) {
    eprintln!(
        "{case}: max |Δlogit| / max |logit| = {prefill:.3e} (prefill), {stepwise:.3e} (decode)"
    );
    assert!(
        prefill <= BOUND && stepwise <= BOUND,
        "{case}: relative logit error {prefill:.3e} (prefill) / {stepwise:.3e} (decode) > {BOUND:e}"
    );
}

/// A committed file against its gguf-py reference. For the hidden-64 families, whose checkpoint
/// is committed, converting again must also reproduce the file byte for byte (the reference was
/// computed on exactly what the converter writes).
fn check_committed(family: &str, dtype: WeightDtype) -> GgufFile {
    let case = format!("{family}-{dtype}");
    let dir = fixtures().join("parity-gguf");
    let gguf = dir.join(format!("{case}.gguf"));
    let reference = read_f32(&dir.join(format!("{case}.logits.f32")));
    assert_within_bound(&case, errors(&gguf, &tokens(&hf_dir(family)), &reference));
    if !family.ends_with("-h256") {
        let again = convert(family, ConvertOptions::new(dtype), &case);
        let same = std::fs::read(&again).unwrap() == std::fs::read(&gguf).unwrap();
        std::fs::remove_file(&again).unwrap();
        assert!(
            same,
            "{case}: the converter no longer writes the committed file"
        );
    }
    GgufFile::open(&gguf).unwrap()
}

/// The F32 conversion against the safetensors parity reference (identical weights).
fn check_f32(family: &str) {
    let case = format!("{family}-f32");
    let gguf = convert(family, ConvertOptions::new(WeightDtype::F32), &case);
    let reference = read_f32(&hf_dir(family).join("logits.f32"));
    let errs = errors(&gguf, &tokens(&hf_dir(family)), &reference);
    std::fs::remove_file(&gguf).unwrap();
    assert_within_bound(&case, errs);
}

fn tensor_types(file: &GgufFile) -> Vec<GgmlType> {
    let mut types: Vec<GgmlType> = file.tensors().iter().map(|t| t.ty).collect();
    types.sort_by_key(|t| t.name());
    types.dedup();
    types
}

macro_rules! f32_cases {
    ($($test:ident => $family:literal),+ $(,)?) => {$(
        #[test]
        fn $test() {
            check_f32($family);
        }
    )+};
}

f32_cases! {
    llama2_f32 => "llama2",
    llama3_f32 => "llama3",
    mistral_f32 => "mistral",
    qwen2_f32 => "qwen2",
    qwen3_f32 => "qwen3",
}

macro_rules! committed_cases {
    ($($test:ident => ($family:literal, $dtype:ident)),+ $(,)?) => {$(
        #[test]
        fn $test() {
            check_committed($family, WeightDtype::$dtype);
        }
    )+};
}

committed_cases! {
    llama2_q8_0 => ("llama2", Q8_0),
    llama2_q4_k_m => ("llama2", Q4KM),
    llama3_f16 => ("llama3", F16),
    mistral_f16 => ("mistral", F16),
    mistral_q4_k_m => ("mistral", Q4KM),
    qwen2_q8_0 => ("qwen2", Q8_0),
    qwen2_q4_k_m => ("qwen2", Q4KM),
    qwen3_q8_0 => ("qwen3", Q8_0),
    qwen3_q4_k_m => ("qwen3", Q4KM),
}

#[test]
fn llama3_q4_k_m_falls_back_to_q5_0_and_q8_0_at_hidden_64() {
    let file = check_committed("llama3", WeightDtype::Q4KM);
    assert_eq!(
        tensor_types(&file),
        [GgmlType::F32, GgmlType::Q5_0, GgmlType::Q8_0]
    );
}

/// Real Q4_K / Q6_K tensors; the loose second check (against the float64 logits of the
/// unquantised weights) only says the quantisation itself is sane: measured 0.146 and 0.035.
fn check_h256(family: &str) {
    let file = check_committed(family, WeightDtype::Q4KM);
    assert_eq!(
        tensor_types(&file),
        [GgmlType::F32, GgmlType::Q4_K, GgmlType::Q6_K]
    );
    let dir = fixtures().join("parity-gguf");
    let quantised = read_f32(&dir.join(format!("{family}-q4_k_m.logits.f32")));
    let unquantised = read_f32(&hf_dir(family).join("logits.f32"));
    let quantisation_error = relative_error(&quantised, &unquantised);
    assert!(
        quantisation_error > 1e-3 && quantisation_error < 0.3,
        "{family}: Q4_K_M moves the logits by {quantisation_error:.3e} of max |logit|"
    );
}

#[test]
fn llama3_h256_q4_k_m() {
    check_h256("llama3-h256");
}

#[test]
fn qwen2_h256_q4_k_m() {
    check_h256("qwen2-h256");
}

/// Leaving llama q/k rows in Hugging Face order (what a converter that forgets llama.cpp's
/// permutation writes) must break parity by far more than the bound.
#[test]
fn unpermuted_llama_qk_rows_fail_the_bound() {
    for family in ["llama2", "llama3"] {
        let options = ConvertOptions {
            dtype: WeightDtype::F32,
            qk_rows: RowOrder::AsGenerated,
        };
        let gguf = convert(family, options, &format!("{family}-unpermuted"));
        let reference = read_f32(&hf_dir(family).join("logits.f32"));
        let (prefill, _) = errors(&gguf, &tokens(&hf_dir(family)), &reference);
        std::fs::remove_file(&gguf).unwrap();
        eprintln!("{family} without q/k permutation: relative logit error {prefill:.3e}");
        assert!(prefill > 1000.0 * BOUND, "{family}: {prefill:.3e}");
    }
}
