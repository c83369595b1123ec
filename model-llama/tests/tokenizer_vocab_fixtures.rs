//! Every line of llama.cpp's vocab test files (fixtures/vocab/*.inp / *.out, from llama.cpp `models/`)
//! tokenizes to exactly llama.cpp's ids (no BOS), and decodes back to the input.

use std::path::PathBuf;

use model_llama::files::GgufFile;
use model_llama::tokenizer::Tokenizer;

fn vocab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab")
}

/// (input text, llama.cpp's ids) pairs. `.inp` holds each text followed by `\n__ggml_vocab_test__\n`;
/// `.out` one line of space-separated ids per text.
fn cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let inp = std::fs::read_to_string(vocab_dir().join(format!("{name}.inp"))).unwrap();
    let out = std::fs::read_to_string(vocab_dir().join(format!("{name}.out"))).unwrap();
    let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    assert_eq!(
        texts.pop(),
        Some(""),
        "{name}.inp must end with a separator"
    );
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|id| id.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{name}: .inp and .out disagree on the number of cases"
    );
    texts.into_iter().map(str::to_owned).zip(ids).collect()
}

fn load(name: &str) -> Tokenizer {
    let file = GgufFile::open(vocab_dir().join(name)).unwrap();
    Tokenizer::from_gguf(&file).unwrap()
}

fn check_vocab(name: &str) {
    let tokenizer = load(name);
    let cases = cases(name);
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let got = tokenizer.encode(text, false, false).unwrap();
        if &got != expected {
            failures.push(format!(
                "{text:?}\n  expected {expected:?}\n  got      {got:?}"
            ));
            continue;
        }
        let decoded = tokenizer.decode(&got, false);
        if &decoded != text {
            failures.push(format!("{text:?}: decodes to {decoded:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn llama_spm_matches_llama_cpp() {
    check_vocab("ggml-vocab-llama-spm.gguf");
}

#[test]
fn llama_bpe_matches_llama_cpp() {
    check_vocab("ggml-vocab-llama-bpe.gguf");
}

#[test]
fn qwen2_matches_llama_cpp() {
    check_vocab("ggml-vocab-qwen2.gguf");
}
