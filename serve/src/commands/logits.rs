//! `realizar logits`: the logits of every position of a token sequence, as little-endian f32,
//! row-major `[tokens, vocab]` (for parity tooling).

use crate::device::{Backend, DEVICE_HELP, Device, choose_backend};
use crate::model_source::{ModelArgs, load_model};
use anyhow::{Context, bail};
use clap::Args;
use model_llama::forward::Model;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Positions run per forward call, bounding the logits held at once to `[CHUNK, vocab]`.
const CHUNK: usize = 64;

#[derive(Debug, Args)]
pub struct LogitsArgs {
    #[command(flatten)]
    pub source: ModelArgs,
    /// Token ids separated by commas, e.g. `1,2,3`.
    #[arg(long)]
    pub tokens: String,
    #[arg(long, value_enum, help = DEVICE_HELP)]
    pub device: Option<Device>,
    /// The file to write: tokens × vocab little-endian f32.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

pub fn run(args: &LogitsArgs) -> anyhow::Result<()> {
    let tokens = parse_token_list(&args.tokens)?;
    let Backend::Cpu = choose_backend(args.device)?;
    let model = load_model(&args.source)?;
    let vocab = model.config().vocab_size;
    if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
        bail!("--tokens: token id {bad} is outside the vocabulary of {vocab}");
    }
    let result = write_logits(&model, &tokens, &args.out);
    if result.is_err() {
        let _ = std::fs::remove_file(&args.out);
    }
    result?;
    eprintln!(
        "wrote {} × {vocab} logits to {}",
        tokens.len(),
        args.out.display()
    );
    Ok(())
}

/// `"1, 2,3"` → `[1, 2, 3]`.
fn parse_token_list(text: &str) -> anyhow::Result<Vec<u32>> {
    let tokens = text
        .split(',')
        .map(|item| {
            let item = item.trim();
            item.parse::<u32>().with_context(|| {
                format!("--tokens: {item:?} is not a token id (expected ids separated by commas, like 1,2,3)")
            })
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    Ok(tokens)
}

fn write_logits(model: &Model, tokens: &[u32], path: &Path) -> anyhow::Result<()> {
    let mut session = model.session(tokens.len())?;
    let file = File::create(path).with_context(|| path.display().to_string())?;
    let mut out = BufWriter::new(file);
    for chunk in tokens.chunks(CHUNK) {
        let logits = session.prefill(chunk)?;
        let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.write_all(&bytes)
            .with_context(|| path.display().to_string())?;
    }
    out.flush().with_context(|| path.display().to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists_parse_with_spaces_and_reject_junk() {
        assert_eq!(parse_token_list("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert!(parse_token_list("1,,2").is_err());
        assert!(parse_token_list("").is_err());
        assert!(parse_token_list("1,-2").is_err());
        assert!(parse_token_list("4294967296").is_err());
    }
}
