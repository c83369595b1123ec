//! `realizar bench <what>`: measurements on the GPU, printed as markdown for docs/BENCHMARKS.md.

mod copy_bandwidth;
mod kernels;
mod report;
mod traffic;
mod weights;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Time every matrix-vector kernel per weight format and M at the Llama-3-8B shapes, against
    /// the device's measured copy bandwidth.
    Kernels(kernels::KernelsArgs),
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.what {
        BenchWhat::Kernels(args) => kernels::run(args),
    }
}
