//! Chat templates: the Jinja programs shipped with instruction-tuned models (GGUF
//! `tokenizer.chat_template`, `tokenizer_config.json` `chat_template`), rendered as Hugging Face does.
//!
//! Mirrors transformers `utils/chat_template_utils.py` (`_cached_compile_jinja_template` and
//! `render_jinja_template`): `trim_blocks` + `lstrip_blocks`, loop controls, a `tojson` that is Python's
//! `json.dumps(ensure_ascii=False)`, the globals `raise_exception` and `strftime_now`, and the context
//! `messages`, `tools`, `documents` (both `none` when absent, so `tools is defined` holds),
//! `add_generation_prompt` and the special tokens. Python string and dict methods (`strip`, `split`,
//! `startswith`, `items`, `get`, ...) come from `minijinja_contrib::pycompat`.

mod message;
mod python_json;

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, Error, ErrorKind, Value};

pub use message::{ChatMessage, FunctionCall, MessageContent, ToolCall};

const TEMPLATE_NAME: &str = "chat_template";

/// A chat template failed to compile or to render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("chat template does not compile: {0:#}")]
    Compile(#[source] minijinja::Error),
    /// The template called `raise_exception(message)`, e.g. for roles that do not alternate.
    #[error("chat template rejected the conversation: {0}")]
    Raised(String),
    #[error("chat template failed to render: {0:#}")]
    Render(#[source] minijinja::Error),
    #[error("chat template input is not serialisable: {0}")]
    Input(#[source] serde_json::Error),
}

/// What `strftime_now` reports: the local time at each render, or a fixed instant (tests, reproducible
/// prompts).
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateClock {
    System,
    Fixed(jiff::civil::DateTime),
}

/// Everything besides the messages that a render takes.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// End the prompt with the header of an assistant turn.
    pub add_generation_prompt: bool,
    /// Left undefined in the template when `None` (as transformers does for a tokenizer without one).
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    /// OpenAI-style tool schemas (`{"type": "function", "function": {...}}`); `none` when absent.
    pub tools: Option<Vec<serde_json::Value>>,
    /// Retrieval documents (`{"title": ..., "text": ...}`); `none` when absent.
    pub documents: Option<Vec<serde_json::Value>>,
    /// Further template variables, e.g. `enable_thinking`, `date_string`, `tools_in_user_message`.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source`; `strftime_now` reads the system clock.
    pub fn new(source: impl Into<String>) -> Result<Self, TemplateError> {
        Self::with_clock(source, TemplateClock::System)
    }

    /// Compiles `source` with the given clock for `strftime_now`.
    pub fn with_clock(
        source: impl Into<String>,
        clock: TemplateClock,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(TemplateError::Compile)?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", python_json::tojson_filter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", move |format: String| {
            strftime_now(&clock, &format)
        });
        env.add_template_owned(TEMPLATE_NAME, source.into())
            .map_err(TemplateError::Compile)?;
        Ok(Self { env })
    }

    /// Renders `messages` as transformers `render_jinja_template` does for one conversation.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        options: &RenderOptions,
    ) -> Result<String, TemplateError> {
        let messages = messages
            .iter()
            .map(message_value)
            .collect::<Result<Vec<_>, _>>()?;
        let mut context: BTreeMap<String, Value> = options
            .extra
            .iter()
            .map(|(key, value)| (key.clone(), Value::from(Serde(value))))
            .collect();
        context.insert("messages".into(), Value::from(messages));
        context.insert("tools".into(), optional_value(options.tools.as_ref()));
        context.insert(
            "documents".into(),
            optional_value(options.documents.as_ref()),
        );
        context.insert(
            "add_generation_prompt".into(),
            Value::from(options.add_generation_prompt),
        );
        for (name, token) in [
            ("bos_token", &options.bos_token),
            ("eos_token", &options.eos_token),
        ] {
            if let Some(token) = token {
                context.insert(name.into(), Value::from(token.as_str()));
            }
        }
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(TemplateError::Compile)?;
        template.render(context).map_err(classify_render_error)
    }
}

fn optional_value(items: Option<&Vec<serde_json::Value>>) -> Value {
    items.map_or(Value::from(()), |items| Value::from(Serde(items)))
}

/// A message as the template sees it, with `thinking` aliasing `reasoning_content` (transformers
/// `_alias_reasoning_fields`: `{"thinking": r, **message, "reasoning_content": r}`).
fn message_value(message: &ChatMessage) -> Result<Value, TemplateError> {
    let json = serde_json::to_value(message).map_err(TemplateError::Input)?;
    let Some(reasoning) = &message.reasoning_content else {
        return Ok(Value::from(Serde(json)));
    };
    let mut aliased = serde_json::Map::new();
    aliased.insert("thinking".into(), reasoning.clone().into());
    if let serde_json::Value::Object(fields) = json {
        aliased.extend(fields);
    }
    Ok(Value::from(Serde(serde_json::Value::Object(aliased))))
}

const RAISED_PREFIX: &str = "raise_exception: ";

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("{RAISED_PREFIX}{message}"),
    ))
}

fn classify_render_error(error: Error) -> TemplateError {
    match error
        .detail()
        .and_then(|detail| detail.strip_prefix(RAISED_PREFIX))
    {
        Some(message) => TemplateError::Raised(message.to_owned()),
        None => TemplateError::Render(error),
    }
}

/// Python `datetime.now().strftime(format)`.
fn strftime_now(clock: &TemplateClock, format: &str) -> Result<String, Error> {
    let now = match clock {
        TemplateClock::System => jiff::Zoned::now().datetime(),
        TemplateClock::Fixed(instant) => *instant,
    };
    jiff::fmt::strtime::format(format, now).map_err(|error| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("strftime_now({format:?}): {error}"),
        )
    })
}
