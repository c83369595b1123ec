//! Real-weight parity: the CPU reference forward on fixtures/models/tiny-code reproduces the
//! greedy continuations and per-position logits that Hugging Face transformers computed
//! (reference.json, refN.logits.f32), from the F16 safetensors and from the Q8_0 GGUF.

use model_llama::forward::Model;
use std::path::PathBuf;

const VOCAB: usize = 258;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/models/tiny-code")
        .join(name)
}

struct Case {
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    /// `[prompt + greedy, VOCAB]`
    logits: Vec<f32>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixture("reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let bytes = std::fs::read(fixture(&format!("ref{i}.logits.f32"))).unwrap();
            let logits: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let c = Case {
                prompt_ids: ids(&case["prompt_ids"]),
                greedy_ids: ids(&case["greedy_ids"]),
                logits,
            };
            assert_eq!(
                c.logits.len(),
                (c.prompt_ids.len() + c.greedy_ids.len()) * VOCAB
            );
            c
        })
        .collect()
}

fn argmax(row: &[f32]) -> u32 {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        )
        .0 as u32
}

/// Runs the prompt as one prefill, then greedy-decodes `greedy_ids.len()` tokens free-running.
/// Returns the generated ids and the logits of every position, `[prompt + greedy, VOCAB]`.
fn generate(model: &Model, case: &Case) -> (Vec<u32>, Vec<f32>) {
    let total = case.prompt_ids.len() + case.greedy_ids.len();
    let mut session = model.session(total).unwrap();
    let mut logits = session.prefill(&case.prompt_ids).unwrap();
    let mut generated = Vec::new();
    while generated.len() < case.greedy_ids.len() {
        let next = argmax(&logits[logits.len() - VOCAB..]);
        generated.push(next);
        logits.extend(session.decode(next).unwrap());
    }
    (generated, logits)
}

/// Largest |ours - reference| over all positions, relative to the largest |reference logit|.
fn relative_max_error(ours: &[f32], reference: &[f32]) -> f32 {
    let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let max_diff = ours
        .iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    max_diff / max_ref
}

fn check(model_file: &str, tolerance: f32, first_positions_tolerance: f32) {
    let model = Model::load(fixture(model_file)).unwrap();
    for (i, case) in cases().iter().enumerate() {
        let (generated, logits) = generate(&model, case);
        assert_eq!(
            generated, case.greedy_ids,
            "{model_file} case {i}: greedy continuation differs"
        );
        let err = relative_max_error(&logits, &case.logits);
        eprintln!("{model_file} case {i}: max |Δlogit| / max |logit| = {err:.3e}");
        assert!(
            err <= tolerance,
            "{model_file} case {i}: relative logit error {err:.3e} > {tolerance:.0e}"
        );
        // Positions 0 and 1 involve no (0) or trivial (1) mixing of attention over positions.
        let head = 2 * VOCAB;
        let err_head = relative_max_error(&logits[..head], &case.logits[..head]);
        assert!(
            err_head <= first_positions_tolerance,
            "{model_file} case {i}: positions 0-1 relative logit error {err_head:.3e} > {first_positions_tolerance:.0e}"
        );
    }
}

/// From the F16 weights the only differences left are arithmetic. Positions 0 and 1 agree to
/// < 2e-6 of max |logit|; later positions differ by up to 1.9e-4 (measured, case 2). That
/// residual belongs to the shared reference files: transformers' own CPU forward (float32 eager,
/// float32 SDPA and float64 eager alike) differs from them by the same 1.6-1.9e-4, while ours
/// matches transformers' float64 forward to < 1e-5 (`safetensors_matches_transformers_float64`).
/// Bounds here: 2.5e-4 over all positions, 1e-5 over positions 0-1.
#[test]
fn safetensors_matches_transformers() {
    check("model.safetensors", 2.5e-4, 1e-5);
}

/// Q8_0 stores each weight as an 8-bit multiple of its 32-block's absmax/127: a relative
/// rounding error of up to 1/254 per weight, about 0.2% RMS. Through 6 layers that moves the
/// logits by up to 1.1% of their range (measured), so the bound is 3%; the
/// greedy tokens (smallest top-2 margin 0.6% of max |logit| in reference.json) must still match.
#[test]
fn q8_0_gguf_matches_transformers() {
    check("tiny-code-Q8_0.gguf", 3e-2, 3e-2);
}

/// fixtures/parity/tiny-code: the same sequences' logits from transformers in float64 on the
/// CPU (scripts/hf_reference_logits.py). Teacher-forced over prompt + greedy tokens as one prefill.
#[test]
fn safetensors_matches_transformers_float64() {
    let model = Model::load(fixture("model.safetensors")).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/parity/tiny-code");
    for (i, case) in cases().iter().enumerate() {
        let tokens: Vec<u32> = case
            .prompt_ids
            .iter()
            .chain(&case.greedy_ids)
            .copied()
            .collect();
        let bytes = std::fs::read(dir.join(format!("ref{i}.logits.f32"))).unwrap();
        let reference: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let ours = model
            .session(tokens.len())
            .unwrap()
            .prefill(&tokens)
            .unwrap();
        let err = relative_max_error(&ours, &reference);
        eprintln!("case {i}: vs float64 transformers, max |Δlogit| / max |logit| = {err:.3e}");
        assert!(
            err <= 1e-5,
            "case {i}: relative logit error {err:.3e} against float64 transformers"
        );
    }
}

#[test]
fn prefill_equals_step_by_step_decode() {
    let model = Model::load(fixture("model.safetensors")).unwrap();
    let case = &cases()[1];
    let tokens: Vec<u32> = case
        .prompt_ids
        .iter()
        .chain(&case.greedy_ids[..24])
        .copied()
        .collect();
    let mut whole = model.session(tokens.len()).unwrap();
    let at_once = whole.prefill(&tokens).unwrap();
    let mut stepwise = model.session(tokens.len()).unwrap();
    let mut one_by_one = stepwise.prefill(&tokens[..3]).unwrap();
    for &t in &tokens[3..] {
        one_by_one.extend(stepwise.decode(t).unwrap());
    }
    assert_eq!(stepwise.position(), tokens.len());
    let err = relative_max_error(&one_by_one, &at_once);
    assert!(err < 1e-5, "prefill vs decode relative error {err:.3e}");
}

#[test]
fn context_limits_are_errors() {
    let model = Model::load(fixture("model.safetensors")).unwrap();
    assert!(model.session(model.config().max_context + 1).is_err());
    let mut s = model.session(4).unwrap();
    s.prefill(&[256, 1, 2, 3]).unwrap();
    assert!(
        s.decode(4).is_err(),
        "a full cache must refuse another position"
    );
    let mut s = model.session(4).unwrap();
    assert!(
        s.prefill(&[258]).is_err(),
        "token 258 is outside the vocabulary"
    );
    assert!(s.prefill(&[]).is_err());
}
