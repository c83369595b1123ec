//! `cargo xtask <task>`: developer tasks that are not part of the product. One file per task.

mod device_bundle;
mod make_model;
mod ptx_dump;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "realizar developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Pack stripped GPU test binaries, `realizar` and run.sh into target/device (GPU machine).
    DeviceBundle(device_bundle::DeviceBundleArgs),
    /// Write a deterministic random Llama/Qwen2 test model (GGUF or safetensors).
    MakeModel(make_model::MakeModelArgs),
    /// Write every sample kernel's PTX as `<entry_name>.ptx` (default target/ptx).
    PtxDump(ptx_dump::PtxDumpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::DeviceBundle(args) => device_bundle::run(&args),
        Task::MakeModel(args) => make_model::run(&args),
        Task::PtxDump(args) => ptx_dump::run(&args),
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
