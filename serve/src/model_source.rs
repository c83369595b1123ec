//! Where a command's model and tokenizer come from: `--model` (a GGUF file or a Hugging Face
//! directory), `--tokenizer`, or the demo model compiled into the binary.

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use model_llama::files::{GgufFile, ModelFile, TensorSource};
use model_llama::forward::Model;
use model_llama::tokenizer::Tokenizer;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Bytes aligned to 64 in memory, so tensor data at aligned file offsets is aligned in the binary
/// too (`include_bytes!` alone guarantees 1).
#[repr(C, align(64))]
struct Aligned<T: ?Sized>(T);

static DEMO_MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/models/tiny-code/tiny-code-Q8_0.gguf"
)));

/// How the demo model is named in messages.
pub const DEMO_MODEL_NAME: &str = "tiny-code-Q8_0.gguf (built-in demo model)";

/// `--model`, shared by every command that reads a model.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// A `.gguf` file, or a Hugging Face directory (safetensors + config.json). Default: the
    /// built-in demo model, a 4.9 M-parameter Llama trained on Python code (byte vocabulary).
    #[arg(long, short = 'm')]
    pub model: Option<PathBuf>,
}

/// `--model` and `--tokenizer`, for the commands that turn text into tokens and back.
#[derive(Debug, Args)]
pub struct ModelTokenizerArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where the vocabulary comes from when the model has none (a safetensors directory without
    /// tokenizer.json): a `.gguf` file that holds one, or a directory with `tokenizer.json`.
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
}

/// The demo model's GGUF, parsed from the bytes in the binary.
pub fn demo_gguf() -> anyhow::Result<GgufFile> {
    GgufFile::from_static(DEMO_MODEL_NAME, &DEMO_MODEL.0).context("the built-in demo model")
}

/// Opens the model for the CPU forward, with a spinner on a terminal while it loads.
pub fn load_model(args: &ModelArgs) -> anyhow::Result<Model> {
    let file = match &args.model {
        None => ModelFile::Gguf(demo_gguf()?),
        Some(path) => {
            must_exist(path)?;
            ModelFile::open(path)?
        }
    };
    let spinner =
        ProgressBar::new_spinner().with_message(format!("loading {}", file.source_name()));
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .context("progress bar template")?,
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    let model = Model::from_file(file);
    spinner.finish_and_clear();
    Ok(model?)
}

/// The tokenizer for a loaded model: `--tokenizer` if given, else the model's own vocabulary.
pub fn model_tokenizer(args: &ModelTokenizerArgs, model: &Model) -> anyhow::Result<Tokenizer> {
    if let Some(path) = &args.tokenizer {
        return tokenizer_at(path);
    }
    match model.file() {
        ModelFile::Gguf(gguf) => Ok(Tokenizer::from_gguf(gguf)?),
        ModelFile::Safetensors(checkpoint) => hf_dir_tokenizer(checkpoint.dir()),
    }
}

/// The tokenizer alone, without loading weights (works on vocab-only GGUF files).
pub fn vocab_tokenizer(args: &ModelTokenizerArgs) -> anyhow::Result<Tokenizer> {
    match (&args.tokenizer, &args.model.model) {
        (Some(path), _) | (None, Some(path)) => tokenizer_at(path),
        (None, None) => Ok(Tokenizer::from_gguf(&demo_gguf()?)?),
    }
}

/// A tokenizer from a GGUF file, a `tokenizer.json`, or a directory holding one.
fn tokenizer_at(path: &Path) -> anyhow::Result<Tokenizer> {
    must_exist(path)?;
    if path.is_dir() {
        return hf_dir_tokenizer(path);
    }
    if starts_with_gguf_magic(path)? {
        return Ok(Tokenizer::from_gguf(&GgufFile::open(path)?)?);
    }
    match path.parent() {
        Some(dir) if path.file_name().is_some_and(|n| n == "tokenizer.json") => {
            hf_dir_tokenizer(dir)
        }
        _ => bail!(
            "{}: not a GGUF file, a tokenizer.json, or a directory",
            path.display()
        ),
    }
}

fn hf_dir_tokenizer(dir: &Path) -> anyhow::Result<Tokenizer> {
    if !dir.join("tokenizer.json").is_file() {
        bail!(
            "{}: no tokenizer.json; pass --tokenizer with a GGUF file or directory that has the vocabulary",
            dir.display()
        );
    }
    Ok(Tokenizer::from_hf_dir(dir)?)
}

fn must_exist(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        bail!("{}: no such file or directory", path.display());
    }
    Ok(())
}

fn starts_with_gguf_magic(path: &Path) -> anyhow::Result<bool> {
    let mut magic = Vec::with_capacity(4);
    std::fs::File::open(path)
        .and_then(|file| file.take(4).read_to_end(&mut magic))
        .with_context(|| path.display().to_string())?;
    Ok(magic == b"GGUF")
}
