//! `Tokenizer::from_hf_dir` on real Hugging Face tokenizer directories (fixtures/hf-tokenizers/<name>/, made by
//! scripts/make_hf_tokenizer_fixtures.py from llama.cpp's vocab fixtures with transformers): every text of
//! llama.cpp's `.inp` file, plus a few around special tokens, tokenizes to Hugging Face's own ids
//! (`tok(text, add_special_tokens=False)`) and decodes to HF's `tok.decode(ids)`.

use std::io::Read;
use std::path::{Path, PathBuf};

use model_llama::tokenizer::Tokenizer;
use serde_json::Value;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/hf-tokenizers")
        .join(name)
}

/// A scratch copy of the fixture directory with `tokenizer.json.gz` unpacked; removed on drop.
struct Unpacked(PathBuf);

impl Unpacked {
    fn new(name: &str) -> Self {
        let from = fixture_dir(name);
        let to =
            std::env::temp_dir().join(format!("realizar-hf-dirs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&to).unwrap();
        let packed = std::fs::File::open(from.join("tokenizer.json.gz")).unwrap();
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(packed)
            .read_to_end(&mut json)
            .unwrap();
        std::fs::write(to.join("tokenizer.json"), json).unwrap();
        for file in ["tokenizer_config.json", "chat_template.jinja"] {
            if from.join(file).exists() {
                std::fs::copy(from.join(file), to.join(file)).unwrap();
            }
        }
        Self(to)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir(name).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| u32::try_from(id.as_u64().unwrap()).unwrap())
        .collect()
}

fn optional_id(value: &Value) -> Option<u32> {
    value.as_u64().map(|id| u32::try_from(id).unwrap())
}

fn check_dir(name: &str) {
    let dir = Unpacked::new(name);
    let tokenizer = Tokenizer::from_hf_dir(dir.path()).unwrap();
    let expected = expected(name);
    assert_eq!(
        tokenizer.vocab_size() as u64,
        expected["vocab_size"].as_u64().unwrap(),
        "{name}: vocab size"
    );
    assert_eq!(
        tokenizer.bos_id(),
        optional_id(&expected["bos_id"]),
        "{name}: BOS"
    );
    assert_eq!(
        tokenizer.eos_id(),
        optional_id(&expected["eos_id"]),
        "{name}: EOS"
    );
    assert_eq!(
        tokenizer.pad_id(),
        optional_id(&expected["pad_id"]),
        "{name}: PAD"
    );

    let cases = expected["cases"].as_array().unwrap();
    let extra = expected["extra_cases"].as_array().unwrap();
    assert!(cases.len() > 40, "{name}: too few cases");
    let mut failures = Vec::new();
    let mut round_trips = 0;
    for case in cases.iter().chain(extra) {
        let text = case["text"].as_str().unwrap();
        let hf_ids = ids(&case["hf_ids"]);
        let hf_decoded = case["hf_decoded"].as_str().unwrap();
        let got = tokenizer.encode(text, false, true).unwrap();
        if got != hf_ids {
            failures.push(format!("{text:?}\n  HF  {hf_ids:?}\n  got {got:?}"));
        }
        let decoded = tokenizer.decode(&hf_ids, true);
        if decoded != hf_decoded {
            failures.push(format!(
                "{text:?}: decodes to {decoded:?}, HF to {hf_decoded:?}"
            ));
        } else if decoded == text {
            round_trips += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} failures over {} cases:\n{}",
        failures.len(),
        cases.len() + extra.len(),
        failures.join("\n")
    );
    assert!(round_trips > 0, "{name}: no text round-trips");
}

#[test]
fn llama_spm_dir_matches_hf() {
    check_dir("llama-spm");
}

#[test]
fn llama_bpe_dir_matches_hf() {
    check_dir("llama-bpe");
}

#[test]
fn qwen2_dir_matches_hf() {
    check_dir("qwen2");
}
