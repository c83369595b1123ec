//! The real `realizar` binary: `make-model` then `info` on both formats, and a clean one-line
//! error for a bad path or a corrupt file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn realizar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_realizar"))
        .args(args)
        .output()
        .expect("run realizar")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("realizar-cli-info-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn make_model(out: &Path, format: &str, dtype: &str) {
    let vocab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab");
    let output = realizar(&[
        "make-model",
        "--arch",
        "qwen2",
        "--preset",
        "tiny",
        "--dtype",
        dtype,
        "--format",
        format,
        "--seed",
        "2",
        "--vocab-dir",
        vocab.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "make-model failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn info_describes_a_gguf_and_a_safetensors_checkpoint() {
    let dir = scratch("ok");
    let gguf = dir.join("tiny.gguf");
    make_model(&gguf, "gguf", "q4_k_m");
    let output = realizar(&["info", gguf.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("architecture:  qwen2"), "{text}");
    assert!(text.contains("block_count"), "{text}");
    assert!(text.contains("tokenizer:     llama"), "{text}");
    // Tied embeddings under Q4_K_M: token_embd is Q6_K, and the row shows its [vocab, hidden] shape.
    let embd = text
        .lines()
        .find(|l| l.trim_start().starts_with("token_embd.weight"))
        .expect("embd row");
    assert!(
        embd.contains("Q6_K") && embd.contains("[32000, 256]"),
        "{embd}"
    );
    // 1 embedding + 2 x (9 weights + 3 biases) + final norm.
    assert!(text.contains("total: 26 tensors"), "{text}");

    let hf = dir.join("tiny-hf");
    make_model(&hf, "safetensors", "bf16");
    let output = realizar(&["info", hf.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("Qwen2ForCausalLM"), "{text}");
    assert!(
        text.contains("model.layers.1.self_attn.k_proj.bias"),
        "{text}"
    );
    assert!(text.contains("BF16"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_are_one_line_and_fail_the_process() {
    let dir = scratch("bad");
    let missing = dir.join("missing.gguf");
    let output = realizar(&["info", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("missing.gguf"),
        "{stderr}"
    );

    let corrupt = dir.join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF\x03\x00\x00\x00truncated").unwrap();
    let output = realizar(&["info", corrupt.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("corrupt.gguf"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
