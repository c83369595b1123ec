//! Chat templates render byte-for-byte what Hugging Face transformers renders.
//!
//! fixtures/chat-templates/expected.json is written by scripts/render_chat_templates.py with
//! transformers' own `render_jinja_template`, `strftime_now` pinned to the `now` recorded in the file.
//! Cases where transformers raises must fail here too, except a loop over `tools = None` (see the field
//! `expected_if_none_iterates_empty`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use model_llama::chat_template::{ChatMessage, ChatTemplate, RenderOptions, TemplateClock};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    now: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    template: String,
    conversation: String,
    add_generation_prompt: bool,
    special_tokens: BTreeMap<String, String>,
    messages: Vec<ChatMessage>,
    tools: Option<Vec<serde_json::Value>>,
    extra: BTreeMap<String, serde_json::Value>,
    expected: Option<String>,
    error: Option<String>,
    /// Jinja2 raised only because the template loops over `tools = None`; minijinja iterates `none` as
    /// empty, and this is Jinja2's rendering with `tools = []`.
    expected_if_none_iterates_empty: Option<String>,
}

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/chat-templates")
}

fn load_fixture() -> Fixture {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn render_case(case: &Case, clock: &TemplateClock) -> Result<String, String> {
    let source = std::fs::read_to_string(fixture_dir().join(&case.template)).unwrap();
    let template = ChatTemplate::with_clock(source, clock.clone()).map_err(|e| e.to_string())?;
    let options = RenderOptions {
        add_generation_prompt: case.add_generation_prompt,
        bos_token: case.special_tokens.get("bos_token").cloned(),
        eos_token: case.special_tokens.get("eos_token").cloned(),
        tools: case.tools.clone(),
        documents: None,
        extra: case.extra.clone(),
    };
    template
        .render(&case.messages, &options)
        .map_err(|e| e.to_string())
}

fn check_templates(prefix: &str) {
    let fixture = load_fixture();
    let now: jiff::civil::DateTime = fixture.now.parse().unwrap();
    let clock = TemplateClock::Fixed(now);
    let cases: Vec<&Case> = fixture
        .cases
        .iter()
        .filter(|case| case.template.starts_with(prefix))
        .collect();
    assert!(!cases.is_empty(), "no cases for {prefix}");
    let mut failures = Vec::new();
    for case in &cases {
        let label = format!(
            "{} / {} / gen={}",
            case.template, case.conversation, case.add_generation_prompt
        );
        match (render_case(case, &clock), &case.expected, &case.error) {
            (Ok(got), Some(expected), _) if &got == expected => {}
            (Ok(got), Some(expected), _) => {
                failures.push(format!("{label}\n--- expected\n{expected}\n--- got\n{got}"));
            }
            (Err(error), Some(_), _) => failures.push(format!("{label}: we failed: {error}")),
            (Ok(got), None, Some(_))
                if case.expected_if_none_iterates_empty.as_ref() == Some(&got) => {}
            (Ok(got), None, Some(error)) => {
                failures.push(format!(
                    "{label}: transformers raised {error}, we rendered\n{got}"
                ));
            }
            (Err(_), None, Some(_)) => {}
            (_, None, None) => {
                failures.push(format!("{label}: fixture has neither expected nor error"))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn llama_3_1() {
    check_templates("meta-llama-Llama-3.1");
}

#[test]
fn llama_3_2() {
    check_templates("meta-llama-Llama-3.2");
}

#[test]
fn llama_3_3() {
    check_templates("meta-llama-Llama-3.3");
}

#[test]
fn qwen2_5() {
    check_templates("Qwen-Qwen2.5");
}

#[test]
fn qwen3() {
    check_templates("Qwen-Qwen3-0.6B");
}

#[test]
fn mistral_small_3_2() {
    check_templates("Mistral-Small-3.2");
}

#[test]
fn devstral() {
    check_templates("unsloth-mistral-Devstral");
}

#[test]
fn deepseek_r1_distill_llama() {
    check_templates("deepseek-ai-DeepSeek-R1-Distill-Llama");
}

#[test]
fn deepseek_r1_distill_qwen() {
    check_templates("deepseek-ai-DeepSeek-R1-Distill-Qwen");
}

#[test]
fn hermes_2_pro() {
    check_templates("NousResearch-Hermes-2-Pro");
}

#[test]
fn hermes_3() {
    check_templates("NousResearch-Hermes-3");
}

#[test]
fn every_fixture_case_is_covered_by_a_test() {
    let prefixes = [
        "meta-llama-Llama-3.1",
        "meta-llama-Llama-3.2",
        "meta-llama-Llama-3.3",
        "Qwen-Qwen2.5",
        "Qwen-Qwen3-0.6B",
        "Mistral-Small-3.2",
        "unsloth-mistral-Devstral",
        "deepseek-ai-DeepSeek-R1-Distill-Llama",
        "deepseek-ai-DeepSeek-R1-Distill-Qwen",
        "NousResearch-Hermes-2-Pro",
        "NousResearch-Hermes-3",
    ];
    let fixture = load_fixture();
    for case in &fixture.cases {
        assert!(
            prefixes.iter().any(|p| case.template.starts_with(p)),
            "{} has no test",
            case.template
        );
    }
}

#[test]
fn raise_exception_becomes_a_raised_error() {
    use model_llama::chat_template::TemplateError;
    let template = ChatTemplate::new("{{ raise_exception('roles must alternate') }}").unwrap();
    let error = template
        .render(&[ChatMessage::user("hi")], &RenderOptions::default())
        .unwrap_err();
    assert!(
        matches!(&error, TemplateError::Raised(message) if message == "roles must alternate"),
        "{error}"
    );
}

#[test]
fn a_template_that_does_not_parse_is_a_compile_error() {
    use model_llama::chat_template::TemplateError;
    let error = ChatTemplate::new("{% for m in messages %}{{ m.content }}").unwrap_err();
    assert!(matches!(error, TemplateError::Compile(_)), "{error}");
}
