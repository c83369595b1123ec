//! `realizar`: run Llama-family models on NVIDIA GPUs. One subcommand per file in `commands/`.

mod commands;
mod device;
mod model_source;
mod sampling_args;
mod stdout_sink;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "realizar",
    version,
    about = "Llama-family inference on NVIDIA GPUs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Continue a prompt: stream the text to stdout, then prompt and generation speeds to stderr.
    Generate(commands::generate::GenerateArgs),
    /// Chat through the model's template: one user turn per line of stdin, Ctrl-D to quit.
    Chat(commands::chat::ChatArgs),
    /// Print the token ids of a text, separated by spaces (needs only the vocabulary).
    Tokenize(commands::tokenize::TokenizeArgs),
    /// Write the logits of every position of a token sequence (f32 LE, [tokens, vocab]).
    Logits(commands::logits::LogitsArgs),
    /// Describe a model: a GGUF file or a Hugging Face safetensors directory.
    Info(commands::info::InfoArgs),
    /// Micro-benchmarks on the GPU (markdown tables): `bench kernels`.
    Bench(commands::bench::BenchArgs),
    /// Write a deterministic random test model (same as `cargo xtask make-model`).
    #[command(hide = true)]
    MakeModel(commands::make_model::MakeModelArgs),
    /// Convert a Hugging Face safetensors checkpoint to GGUF (llama.cpp's layout and type mix).
    #[command(hide = true)]
    Convert(commands::convert::ConvertArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => commands::generate::run(&args),
        Command::Chat(args) => commands::chat::run(&args),
        Command::Tokenize(args) => commands::tokenize::run(&args),
        Command::Logits(args) => commands::logits::run(&args),
        Command::Info(args) => commands::info::run(&args),
        Command::MakeModel(args) => commands::make_model::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Convert(args) => commands::convert::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text the message already holds
/// (errors that print their source in their own message).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}
