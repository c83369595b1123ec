//! `realizar make-model`: the test-model generator of `model_llama::testmodel`, with a progress bar.

use anyhow::Context;
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use indicatif::{ProgressBar, ProgressStyle};
use model_llama::testmodel::{
    Arch, ModelSpec, OutputFormat, Preset, WeightDtype, make_model_with_progress,
};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct MakeModelArgs {
    #[arg(long, value_parser = one_of(Arch::ALL, Arch::name), default_value = "llama")]
    pub arch: Arch,
    #[arg(long, value_parser = one_of(Preset::ALL, Preset::name), default_value = "tiny")]
    pub preset: Preset,
    #[arg(long, value_parser = one_of(WeightDtype::ALL, WeightDtype::name), default_value = "f16")]
    pub dtype: WeightDtype,
    #[arg(long, value_parser = one_of(OutputFormat::ALL, OutputFormat::name), default_value = "gguf")]
    pub format: OutputFormat,
    /// A `.gguf` file, or the directory of a safetensors checkpoint.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder with llama.cpp's `ggml-vocab-*.gguf` (default: the repository's `fixtures/vocab`).
    #[arg(long)]
    pub vocab_dir: Option<PathBuf>,
}

/// The repository's vocab fixtures: next to the source tree when it exists (a build on this
/// machine), else `fixtures/vocab` under the working directory (a bundled binary run from a copy of
/// the repository).
pub fn default_vocab_dir() -> PathBuf {
    let in_tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab");
    if in_tree.is_dir() {
        in_tree
    } else {
        PathBuf::from("fixtures/vocab")
    }
}

/// A parser accepting exactly the names of `all` (listed in `--help`).
fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|&v| name(v))).map(move |given| {
        *all.iter()
            .find(|&&v| name(v) == given)
            .expect("clap admits only listed names")
    })
}

pub fn run(args: &MakeModelArgs) -> anyhow::Result<()> {
    let spec = ModelSpec {
        arch: args.arch,
        preset: args.preset,
        dtype: args.dtype,
        format: args.format,
        out: args.out.clone(),
        seed: args.seed,
        vocab_dir: args.vocab_dir.clone().unwrap_or_else(default_vocab_dir),
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {elapsed_precise} eta {eta}")
            .context("progress bar template")?,
    );
    let made = make_model_with_progress(&spec, &|p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    })
    .with_context(|| format!("making {} {} {} model", spec.arch, spec.preset, spec.dtype))?;
    bar.finish_and_clear();
    println!(
        "wrote {} tensors, {:.1} MiB of weights: {}",
        made.tensor_count,
        made.tensor_bytes as f64 / (1 << 20) as f64,
        made.files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
