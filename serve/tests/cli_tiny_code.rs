//! The `realizar` binary on the repository's fixtures: `generate` reproduces the greedy
//! continuations Hugging Face transformers computed for fixtures/models/tiny-code (reference.json),
//! `logits` reproduces its per-position logits, `tokenize` reproduces llama.cpp's vocab test
//! lines, and bad input ends with one line on stderr and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VOCAB: usize = 258;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn tiny_code(name: &str) -> PathBuf {
    repo("fixtures/models/tiny-code").join(name)
}

fn realizar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_realizar"))
        .args(args)
        .output()
        .expect("the realizar binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "realizar failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

struct ReferenceCase {
    prompt: String,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    text: String,
}

fn reference_cases() -> Vec<ReferenceCase> {
    let text = std::fs::read_to_string(tiny_code("reference.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
            .collect()
    };
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| ReferenceCase {
            prompt: case["prompt"].as_str().unwrap().to_owned(),
            prompt_ids: ids(&case["prompt_ids"]),
            greedy_ids: ids(&case["greedy_ids"]),
            text: case["text"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[test]
fn reference_prompts_are_bos_then_bytes() {
    for case in reference_cases() {
        let mut expected = vec![256];
        expected.extend(case.prompt.bytes().map(u32::from));
        assert_eq!(case.prompt_ids, expected);
    }
}

#[test]
fn generate_with_the_built_in_model_writes_the_reference_continuation() {
    let case = &reference_cases()[0];
    let n = case.greedy_ids.len().to_string();
    let output = realizar(&[
        "generate",
        "--prompt",
        &case.prompt,
        "--temp",
        "0",
        "-n",
        &n,
    ]);
    let text = stdout(&output);
    assert!(!text.is_empty());
    assert_eq!(text, case.text);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("prompt: 8 tokens") && stderr.contains(&format!("generation: {n} tokens")),
        "speed report: {stderr}"
    );
}

#[test]
fn generate_with_the_safetensors_directory_writes_the_reference_continuation() {
    let case = &reference_cases()[1];
    let n = 48;
    let dir = tiny_code("");
    let vocab = tiny_code("tiny-code-Q8_0.gguf");
    let output = realizar(&[
        "generate",
        "--model",
        dir.to_str().unwrap(),
        "--tokenizer",
        vocab.to_str().unwrap(),
        "--prompt",
        &case.prompt,
        "--temp",
        "0",
        "-n",
        &n.to_string(),
    ]);
    let expected: String = case.text.chars().take(n).collect();
    assert_eq!(stdout(&output), expected);
}

#[test]
fn generate_ends_at_a_stop_string_without_printing_it() {
    let case = &reference_cases()[0];
    // The reference continuation "torch._inductor.config..." with stop "config" ends before it.
    let output = realizar(&[
        "generate",
        "-p",
        &case.prompt,
        "--temp",
        "0",
        "--stop",
        "config",
    ]);
    let expected = &case.text[..case.text.find("config").unwrap()];
    assert_eq!(stdout(&output), expected);
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Largest |ours - reference| relative to the largest |reference logit| (the forward tests' measure).
fn relative_max_error(ours: &[f32], reference: &[f32]) -> f32 {
    let max_ref = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let max_diff = ours
        .iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    max_diff / max_ref
}

/// `model`: `None` for the built-in Q8_0 GGUF. Tolerances are those of model-llama's
/// forward_tiny_code tests (2.5e-4 for the F16 safetensors, 3e-2 for Q8_0).
fn check_logits(model: Option<&Path>, tolerance: f32) {
    let case = &reference_cases()[0];
    let tokens: Vec<String> = case
        .prompt_ids
        .iter()
        .chain(&case.greedy_ids)
        .map(u32::to_string)
        .collect();
    let dir = tempdir(if model.is_some() {
        "logits-file"
    } else {
        "logits-built-in"
    });
    let out = dir.join("logits.f32");
    let list = tokens.join(",");
    let mut args = vec!["logits", "--tokens", &list, "--out", out.to_str().unwrap()];
    if let Some(model) = model {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    stdout(&realizar(&args));
    let ours = read_f32(&out);
    let reference = read_f32(&tiny_code("ref0.logits.f32"));
    assert_eq!(ours.len(), tokens.len() * VOCAB);
    assert_eq!(ours.len(), reference.len());
    let err = relative_max_error(&ours, &reference);
    assert!(
        err <= tolerance,
        "relative logit error {err:.3e} > {tolerance:.0e}"
    );
}

#[test]
fn logits_of_the_safetensors_model_match_transformers() {
    check_logits(Some(&tiny_code("model.safetensors")), 2.5e-4);
}

#[test]
fn logits_of_the_built_in_model_match_transformers() {
    check_logits(None, 3e-2);
}

fn tempdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// (text, llama.cpp's ids) pairs of a vocab fixture: `.inp` holds each text followed by
/// `\n__ggml_vocab_test__\n`, `.out` one line of ids per text.
fn vocab_cases(name: &str) -> Vec<(String, String)> {
    let dir = repo("fixtures/vocab");
    let inp = std::fs::read_to_string(dir.join(format!("{name}.inp"))).unwrap();
    let out = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    assert_eq!(texts.pop(), Some(""));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(texts.len(), lines.len());
    texts
        .into_iter()
        .map(str::to_owned)
        .zip(lines.into_iter().map(|l| l.trim().to_owned()))
        .collect()
}

fn check_tokenize(vocab: &str) {
    let path = repo("fixtures/vocab").join(vocab);
    let cases = vocab_cases(vocab);
    // Three cases with text: plain words, the longest (code, digits, emoji), and one with newlines.
    let with_text: Vec<&(String, String)> =
        cases.iter().filter(|(_, ids)| !ids.is_empty()).collect();
    let plain = with_text
        .iter()
        .find(|(t, _)| t.contains("Hello world"))
        .unwrap();
    let longest = with_text.iter().max_by_key(|(t, _)| t.len()).unwrap();
    let newlines = with_text.iter().find(|(t, _)| t.contains('\n')).unwrap();
    for (text, ids) in [plain, longest, newlines] {
        let output = realizar(&[
            "tokenize",
            "--model",
            path.to_str().unwrap(),
            "--text",
            text,
        ]);
        assert_eq!(stdout(&output).trim_end(), ids, "{vocab}: {text:?}");
    }
}

#[test]
fn tokenize_reproduces_llama_cpp_on_the_llama_spm_vocab() {
    check_tokenize("ggml-vocab-llama-spm.gguf");
}

#[test]
fn tokenize_reproduces_llama_cpp_on_the_llama_bpe_vocab() {
    check_tokenize("ggml-vocab-llama-bpe.gguf");
}

#[test]
fn tokenize_reproduces_llama_cpp_on_the_qwen2_vocab() {
    check_tokenize("ggml-vocab-qwen2.gguf");
}

#[test]
fn tokenize_adds_bos_only_when_asked() {
    assert_eq!(
        stdout(&realizar(&["tokenize", "--text", "def"])),
        "100 101 102\n"
    );
    assert_eq!(
        stdout(&realizar(&["tokenize", "--text", "def", "--bos"])),
        "256 100 101 102\n"
    );
}

/// A failing run: non-zero exit, exactly one line on stderr starting with `error: `, no panic.
fn assert_one_line_error(args: &[&str], expected_fragment: &str) {
    let output = realizar(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(stderr.contains(expected_fragment), "{args:?}: {stderr}");
}

#[test]
fn errors_are_one_line_and_a_non_zero_exit() {
    let out = tempdir("errors").join("never.f32");
    let out = out.to_str().unwrap();
    assert_one_line_error(
        &["generate", "--model", "/no/such/model.gguf", "-p", "x"],
        "/no/such/model.gguf: no such file",
    );
    assert_one_line_error(
        &["tokenize", "--model", "/no/such/vocab.gguf", "--text", "x"],
        "no such file",
    );
    assert_one_line_error(
        &["logits", "--tokens", "1,x,3", "--out", out],
        "\"x\" is not a token id",
    );
    assert_one_line_error(&["logits", "--tokens", "", "--out", out], "not a token id");
    assert_one_line_error(
        &["logits", "--tokens", "256,300", "--out", out],
        "token id 300 is outside the vocabulary of 258",
    );
    assert!(!Path::new(out).exists(), "no output file after an error");
    // Without a GPU: no driver or no device; with one: the CUDA forward does not exist yet.
    assert_one_line_error(
        &["generate", "--device", "cuda", "-p", "x"],
        "--device cuda",
    );
    assert_one_line_error(&["generate", "-p", "x", "--top-p", "0"], "top_p");
    let dir = tiny_code("");
    assert_one_line_error(
        &["generate", "--model", dir.to_str().unwrap(), "-p", "x"],
        "no tokenizer.json; pass --tokenizer",
    );
    assert_one_line_error(&["chat"], "has no chat template");
}
