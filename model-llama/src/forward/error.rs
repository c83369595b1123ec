//! Errors of loading a model and of running it.

use crate::config::ConfigError;
use crate::files::FileError;
use crate::weights::WeightError;
use quant_formats::QuantError;

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path}: {source}")]
    Config { path: String, source: ConfigError },
    #[error("{path}: no config.json next to the safetensors weights")]
    NoConfig { path: String },
    #[error(transparent)]
    Weights(#[from] WeightError),
}

/// Why a forward step could not run.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("token id {token} is outside the vocabulary of {vocab}")]
    TokenOutOfRange { token: u32, vocab: usize },
    #[error("position {end} is past the KV cache capacity {capacity}")]
    ContextFull { end: usize, capacity: usize },
    #[error("KV cache of {requested} positions exceeds the model's context of {max}")]
    ContextTooLong { requested: usize, max: usize },
    #[error("no tokens to process")]
    EmptyInput,
    #[error("tensor '{tensor}': {source}")]
    Quant { tensor: String, source: QuantError },
}
