//! `realizar tokenize`: the token ids of a text, separated by spaces. Needs only the vocabulary,
//! so vocab-only GGUF files work.

use crate::model_source::{ModelTokenizerArgs, vocab_tokenizer};
use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    #[command(flatten)]
    pub source: ModelTokenizerArgs,
    /// The text to tokenize.
    #[arg(long)]
    pub text: String,
    /// Start with the vocabulary's BOS token.
    #[arg(long)]
    pub bos: bool,
    /// Read control-token text (such as `<|eot_id|>`) as those tokens.
    #[arg(long)]
    pub parse_special: bool,
}

pub fn run(args: &TokenizeArgs) -> anyhow::Result<()> {
    let tokenizer = vocab_tokenizer(&args.source)?;
    let mut ids = Vec::new();
    if args.bos {
        ids.push(
            tokenizer
                .bos_id()
                .context("--bos: the vocabulary has no BOS token")?,
        );
    }
    ids.extend(tokenizer.encode(&args.text, false, args.parse_special)?);
    let line: Vec<String> = ids.iter().map(u32::to_string).collect();
    println!("{}", line.join(" "));
    Ok(())
}
