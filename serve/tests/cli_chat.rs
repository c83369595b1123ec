//! `realizar chat` with stdin piped: two turns, then end of input, on a tiny random Llama made by
//! `realizar make-model` (Llama 2 SentencePiece vocabulary, no chat template of its own) with the
//! Qwen2.5 template from fixtures/chat-templates. Each greedy reply must equal `generate` on the
//! same conversation rendered as Hugging Face renders it, so the template, BOS handling and the
//! KV cache carried between turns are all checked.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const QWEN_TEMPLATE: &str = "Qwen-Qwen2.5-7B-Instruct.jinja";
const SYSTEM: &str = "You are a terse assistant.";
const FIRST: &str = "What is 2 + 2?";
const SECOND: &str = "And 3 + 3?";
/// Tokens per reply.
const REPLY_TOKENS: &str = "6";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn realizar(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_realizar"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the realizar binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "realizar failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A tiny random llama GGUF, made once per test run under the target directory (written under a
/// temporary name, then renamed, so concurrent runs never read a half-written file).
fn tiny_model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let partial = dir.join(format!("chat-tiny-{}.gguf", std::process::id()));
        let path = dir.join("chat-tiny-llama.gguf");
        let partial_name = partial.display().to_string();
        stdout(&realizar(
            &["make-model", "--out", &partial_name, "--seed", "7"],
            "",
        ));
        std::fs::rename(&partial, &path).unwrap();
        path.display().to_string()
    })
}

/// Hugging Face's rendering of `conversation` with the Qwen template, from expected.json.
fn hf_rendering(conversation: &str) -> (serde_json::Value, String) {
    let text = std::fs::read_to_string(repo("fixtures/chat-templates/expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let case = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["template"] == QWEN_TEMPLATE
                && c["conversation"] == conversation
                && c["add_generation_prompt"] == true
                && c["tools"].is_null()
        })
        .unwrap();
    (
        case["messages"].clone(),
        case["expected"].as_str().unwrap().to_owned(),
    )
}

/// ChatML turns as the Qwen template writes them; checked against Hugging Face's multi-turn
/// rendering before use.
fn chatml(messages: &[(&str, &str)]) -> String {
    let mut out: String = messages
        .iter()
        .map(|(role, content)| format!("<|im_start|>{role}\n{content}<|im_end|>\n"))
        .collect();
    out.push_str("<|im_start|>assistant\n");
    out
}

fn greedy_generate(prompt: &str) -> String {
    stdout(&realizar(
        &[
            "generate",
            "--model",
            tiny_model(),
            "--prompt",
            prompt,
            "--parse-special",
            "--temp",
            "0",
            "-n",
            REPLY_TOKENS,
        ],
        "",
    ))
}

#[test]
fn chatml_helper_matches_hugging_face() {
    let (messages, expected) = hf_rendering("multi_turn");
    let pairs: Vec<(&str, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(chatml(&pairs), expected);
    let (_, system_user) = hf_rendering("system_user");
    assert_eq!(
        chatml(&[("system", SYSTEM), ("user", "What is 2 + 2?")]),
        system_user
    );
}

#[test]
fn two_piped_turns_equal_generate_on_the_rendered_conversation() {
    let template = repo("fixtures/chat-templates").join(QWEN_TEMPLATE);
    let output = realizar(
        &[
            "chat",
            "--model",
            tiny_model(),
            "--chat-template",
            template.to_str().unwrap(),
            "--system",
            SYSTEM,
            "--temp",
            "0",
            "-n",
            REPLY_TOKENS,
        ],
        &format!("{FIRST}\n{SECOND}\n"),
    );
    let transcript = stdout(&output);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let first = greedy_generate(&chatml(&[("system", SYSTEM), ("user", FIRST)]));
    assert!(!first.trim().is_empty());
    let second = greedy_generate(&chatml(&[
        ("system", SYSTEM),
        ("user", FIRST),
        ("assistant", first.trim()),
        ("user", SECOND),
    ]));
    assert_eq!(transcript, format!("{first}\n{second}\n"));
}

#[test]
fn end_of_input_right_away_is_a_clean_exit() {
    let template = repo("fixtures/chat-templates").join(QWEN_TEMPLATE);
    let args = [
        "chat",
        "--model",
        tiny_model(),
        "--chat-template",
        template.to_str().unwrap(),
    ];
    assert_eq!(stdout(&realizar(&args, "")), "");
}

#[test]
fn plain_template_is_used_only_when_asked() {
    let output = realizar(&["chat", "-n", "4", "--temp", "0"], "def f():\n");
    assert!(!output.status.success());
    let output = realizar(
        &["chat", "--plain-template", "-n", "4", "--temp", "0"],
        "def f():\n",
    );
    let reply = stdout(&output);
    assert!(reply.ends_with('\n') && reply.len() > 1, "{reply:?}");
}
