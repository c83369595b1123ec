//! Tokenizer behaviour beyond the llama.cpp vocab lines: special tokens, BOS, byte vocabularies,
//! streaming detokenisation and `tokenizer.json` directories.

use std::path::PathBuf;

use model_llama::files::GgufFile;
use model_llama::tokenizer::Tokenizer;
use proptest::prelude::*;

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(path)
}

fn gguf_tokenizer(path: &str) -> Tokenizer {
    Tokenizer::from_gguf(&GgufFile::open(fixture(path)).unwrap()).unwrap()
}

#[test]
fn tiny_code_byte_vocab_tokenizes_bytes_to_their_ids() {
    let tokenizer = gguf_tokenizer("models/tiny-code/tiny-code-Q8_0.gguf");
    let text = "def f(x):\n\treturn x * 2  # é 🍣\n";
    let ids = tokenizer.encode(text, true, false).unwrap();
    let mut expected = vec![256];
    expected.extend(text.bytes().map(u32::from));
    assert_eq!(ids, expected);
    assert_eq!(tokenizer.decode(&ids, false), text);
    assert!(tokenizer.is_end_of_generation(257));
}

#[test]
fn llama3_special_tokens_parse_only_when_asked() {
    let tokenizer = gguf_tokenizer("vocab/ggml-vocab-llama-bpe.gguf");
    assert_eq!(tokenizer.bos_id(), Some(128000));
    assert_eq!(tokenizer.eot_id(), Some(128009));
    let text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    let parsed = tokenizer.encode(text, true, true).unwrap();
    assert_eq!(
        parsed[0], 128000,
        "BOS added as add_bos_token defaults to true for llama-bpe"
    );
    assert_eq!(parsed[1], 128006);
    assert_eq!(parsed.last(), Some(&128009));
    let plain = tokenizer.encode(text, false, false).unwrap();
    assert!(
        !plain.contains(&128009) && !plain.contains(&128006),
        "{plain:?}"
    );
    assert_eq!(tokenizer.decode(&plain, false), text);
    assert_eq!(
        tokenizer.decode(&parsed, true),
        format!("<|begin_of_text|>{text}")
    );
    assert_eq!(tokenizer.decode(&parsed, false), "user\n\nHi");
}

#[test]
fn spm_adds_a_space_prefix_after_special_tokens() {
    let tokenizer = gguf_tokenizer("vocab/ggml-vocab-llama-spm.gguf");
    let ids = tokenizer.encode("Hello</s>Hello", true, true).unwrap();
    // llama.cpp: [BOS, "▁Hello", EOS, "▁Hello"]; "▁Hello" is 15043 in the Llama 2 vocabulary.
    assert_eq!(ids, vec![1, 15043, 2, 15043]);
    assert_eq!(tokenizer.decode(&ids, false), "Hello Hello");
}

fn streamed(tokenizer: &Tokenizer, ids: &[u32]) -> Vec<String> {
    let mut detokenizer = tokenizer.detokenizer(false);
    let mut chunks: Vec<String> = ids.iter().map(|&id| detokenizer.push(id)).collect();
    chunks.push(detokenizer.finish());
    chunks
}

static SPM: std::sync::LazyLock<Tokenizer> =
    std::sync::LazyLock::new(|| gguf_tokenizer("vocab/ggml-vocab-llama-spm.gguf"));
static QWEN2: std::sync::LazyLock<Tokenizer> =
    std::sync::LazyLock::new(|| gguf_tokenizer("vocab/ggml-vocab-qwen2.gguf"));

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn detokenizer_never_splits_a_character(text in "[a-zé日本語🍣🙂ñ\\- \n]{0,24}") {
        for (tokenizer, space_prefix) in [(&*SPM, true), (&*QWEN2, false)] {
            let ids = tokenizer.encode(&text, false, false).unwrap();
            let chunks = streamed(tokenizer, &ids);
            prop_assert!(chunks.iter().all(|c| !c.contains(char::REPLACEMENT_CHARACTER)), "{chunks:?}");
            let joined: String = chunks.concat();
            let expected = if space_prefix && !text.is_empty() { format!(" {text}") } else { text.clone() };
            prop_assert_eq!(joined, expected);
        }
    }
}

#[test]
fn detokenizer_holds_back_partial_characters() {
    let tokenizer = gguf_tokenizer("vocab/ggml-vocab-llama-spm.gguf");
    // 🍣 is not a Llama 2 piece: it becomes its four UTF-8 bytes as <0xXX> tokens (ids byte + 3).
    let ids: Vec<u32> = "🍣".bytes().map(|b| u32::from(b) + 3).collect();
    let chunks = streamed(&tokenizer, &ids);
    assert_eq!(chunks, vec!["", "", "", "🍣", ""]);
}

const TINY_TOKENIZER_JSON: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 8, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 9, "content": "<tool>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
  "post_processor": null,
  "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4, "<": 5, "s": 6, ">": 7},
            "merges": ["a b", "Ġ ab"]}
}"#;

#[test]
fn hf_dir_tokenizer_uses_config_and_added_tokens() {
    let dir = std::env::temp_dir().join(format!("realizar-hf-tokenizer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tokenizer.json"), TINY_TOKENIZER_JSON).unwrap();
    std::fs::write(
        dir.join("tokenizer_config.json"),
        r#"{"bos_token": {"content": "<s>"}, "eos_token": "<s>", "add_bos_token": true, "chat_template": "{{ bos_token }}"}"#,
    )
    .unwrap();
    let tokenizer = Tokenizer::from_hf_dir(&dir).unwrap();
    assert_eq!(
        tokenizer.encode("ab ab<s>", true, true).unwrap(),
        vec![8, 2, 4, 8]
    );
    assert_eq!(
        tokenizer.encode("ab<s><tool>", false, false).unwrap(),
        vec![2, 5, 6, 7, 9]
    );
    assert_eq!(tokenizer.decode(&[8, 2, 4, 9], false), "ab ab<tool>");
    assert_eq!(tokenizer.decode(&[8, 2, 4, 9], true), "<s>ab ab<tool>");
    assert_eq!(tokenizer.chat_template(), Some("{{ bos_token }}"));
    std::fs::remove_dir_all(&dir).unwrap();
}
