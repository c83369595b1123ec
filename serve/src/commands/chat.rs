//! `realizar chat`: a multi-turn conversation through the model's chat template. Each line read
//! from stdin is a user turn; the reply streams to stdout; end of input (Ctrl-D) quits. The KV
//! cache carries over between turns, so each turn prefills only what is new.

use crate::device::{Backend, DEVICE_HELP, Device, choose_backend};
use crate::model_source::{ModelTokenizerArgs, load_model, model_tokenizer};
use crate::sampling_args::SamplingArgs;
use crate::stdout_sink::StdoutSink;
use anyhow::{Context, bail};
use clap::Args;
use model_llama::chat_template::{ChatMessage, ChatTemplate, RenderOptions};
use model_llama::files::TensorSource;
use model_llama::generate::Generator;
use model_llama::tokenizer::Tokenizer;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// `--plain-template`: `role: text` lines, then `assistant:` to prompt the reply.
const PLAIN_TEMPLATE: &str = "{% for message in messages %}{{ message.role }}: {{ message.content }}\n\
     {% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
/// Where a `--plain-template` reply ends: the model starting the next user line.
const PLAIN_STOP: &str = "\nuser:";

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub source: ModelTokenizerArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[arg(long, value_enum, help = DEVICE_HELP)]
    pub device: Option<Device>,
    /// A system message that opens the conversation.
    #[arg(long)]
    pub system: Option<String>,
    /// A Jinja chat template file to use instead of the model's own.
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
    /// For a model without a chat template: plain `role: text` lines.
    #[arg(long, conflicts_with = "chat_template")]
    pub plain_template: bool,
    /// Positions the conversation may fill (at most the model's context).
    #[arg(long, default_value_t = 4096)]
    pub ctx_size: usize,
}

pub fn run(args: &ChatArgs) -> anyhow::Result<()> {
    let mut params = args.sampling.params()?;
    let Backend::Cpu = choose_backend(args.device)?;
    let model = load_model(&args.source.model)?;
    let tokenizer = model_tokenizer(&args.source, &model)?;
    let template = chat_template(args, &tokenizer, model.file().source_name())?;
    if args.plain_template {
        params.stop_strings.push(PLAIN_STOP.to_owned());
    }
    let options = RenderOptions {
        add_generation_prompt: true,
        bos_token: tokenizer.bos_text().map(str::to_owned),
        eos_token: tokenizer.eos_text().map(str::to_owned),
        ..RenderOptions::default()
    };
    let capacity = args.ctx_size.min(model.config().max_context);
    let mut generator = Generator::new(model.session(capacity)?, capacity, &tokenizer);

    let mut messages: Vec<ChatMessage> = args.system.iter().map(ChatMessage::system).collect();
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut stdout = StdoutSink::new();
    let base_seed = params.seed;
    for turn in 0u64.. {
        if interactive {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if input.read_line(&mut line).context("reading stdin")? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        messages.push(ChatMessage::user(line));
        let rendered = template.render(&messages, &options)?;
        let template_has_bos = tokenizer
            .bos_text()
            .is_some_and(|bos| rendered.starts_with(bos));
        let prompt = tokenizer.encode(&rendered, !template_has_bos, true)?;
        params.seed = base_seed.wrapping_add(turn);
        let reply = generator
            .generate(&prompt, &params, &mut |text| stdout.write(text))
            .with_context(|| format!("turn {}", turn + 1))?;
        let _ = stdout.write("\n");
        if stdout.closed()? {
            return Ok(());
        }
        messages.push(ChatMessage::assistant(reply.text.trim()));
    }
    Ok(())
}

fn chat_template(
    args: &ChatArgs,
    tokenizer: &Tokenizer,
    model_name: &str,
) -> anyhow::Result<ChatTemplate> {
    let source = if let Some(path) = &args.chat_template {
        std::fs::read_to_string(path).with_context(|| path.display().to_string())?
    } else if args.plain_template {
        PLAIN_TEMPLATE.to_owned()
    } else if let Some(own) = tokenizer.chat_template() {
        own.to_owned()
    } else {
        bail!(
            "{model_name} has no chat template; pass --chat-template FILE, or --plain-template \
             for plain `role: text` turns"
        );
    };
    Ok(ChatTemplate::new(source)?)
}
