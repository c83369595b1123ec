//! `cargo xtask ptx-dump [--out DIR]`: writes `<entry_name>.ptx` for every `KernelType::samples()`
//! value (default `target/ptx` of the workspace): the same text the snapshots hold.

use anyhow::Context;
use clap::Args;
use kernel_ptx::KernelType;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct PtxDumpArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: &PtxDumpArgs) -> anyhow::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ptx"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let samples = KernelType::samples();
    for kt in &samples {
        let path = out.join(format!("{}.ptx", kt.entry_name()));
        std::fs::write(&path, kt.ptx()).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("wrote {} PTX modules to {}", samples.len(), out.display());
    Ok(())
}
