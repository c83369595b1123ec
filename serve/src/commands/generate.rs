//! `realizar generate`: continue a prompt, streaming the text to stdout, then the prompt and
//! generation speeds to stderr.

use crate::device::{Backend, DEVICE_HELP, Device, choose_backend};
use crate::model_source::{ModelTokenizerArgs, load_model, model_tokenizer};
use crate::sampling_args::SamplingArgs;
use crate::stdout_sink::StdoutSink;
use clap::Args;
use model_llama::generate::{Generation, Generator};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub source: ModelTokenizerArgs,
    /// The text to continue (BOS is added when the vocabulary asks for it).
    #[arg(long, short = 'p')]
    pub prompt: String,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[arg(long, value_enum, help = DEVICE_HELP)]
    pub device: Option<Device>,
    /// Print the prompt before the generated text.
    #[arg(long)]
    pub echo: bool,
    /// Read control-token text in the prompt (such as `<|eot_id|>`) as those tokens.
    #[arg(long)]
    pub parse_special: bool,
}

pub fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let params = args.sampling.params()?;
    let Backend::Cpu = choose_backend(args.device)?;
    let model = load_model(&args.source.model)?;
    let tokenizer = model_tokenizer(&args.source, &model)?;
    let prompt = tokenizer.encode(&args.prompt, true, args.parse_special)?;
    let capacity = (prompt.len() + params.max_tokens).min(model.config().max_context);
    let mut generator = Generator::new(model.session(capacity)?, capacity, &tokenizer);

    let mut stdout = StdoutSink::new();
    if args.echo {
        let _ = stdout.write(&args.prompt);
    }
    let generation = generator.generate(&prompt, &params, &mut |text| stdout.write(text))?;
    stdout.end_line_on_terminal();
    if stdout.closed()? {
        return Ok(());
    }
    eprintln!("{}", speed_report(&generation, params.seed));
    Ok(())
}

/// `prompt: 8 tokens in 0.010 s (800.0 tok/s) | generation: 96 tokens in ... | seed 42`
fn speed_report(g: &Generation, seed: u64) -> String {
    let prefilled = g.prompt_tokens - g.reused_tokens;
    format!(
        "prompt: {} | generation: {} | seed {seed}",
        rate(prefilled, g.prompt_time),
        rate(g.tokens.len(), g.generation_time)
    )
}

fn rate(tokens: usize, time: Duration) -> String {
    let seconds = time.as_secs_f64();
    let per_second = if seconds > 0.0 {
        tokens as f64 / seconds
    } else {
        0.0
    };
    format!("{tokens} tokens in {seconds:.3} s ({per_second:.1} tok/s)")
}
