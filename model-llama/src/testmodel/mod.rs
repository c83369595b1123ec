//! Deterministic random test models in GGUF and Hugging Face safetensors form.
//!
//! `make_model` writes a Llama or Qwen2 checkpoint with the exact tensor names, shapes, metadata
//! and tokenizer of a real one (llama.cpp's `convert_hf_to_gguf.py` + `llama-quantize` for GGUF,
//! transformers' `save_pretrained` for safetensors), filled with seeded random weights. The same
//! seed gives the same model in both formats: GGUF Q/K rows of llama are the Hugging Face rows
//! permuted as llama.cpp's converter permutes them. Tensors are generated, quantised and written
//! chunk by chunk, so an 8B model never sits in memory.

mod encode;
pub mod from_hf;
mod gguf_output;
mod hf_config;
pub mod layout;
pub mod random_weights;
mod safetensors_output;
pub mod spec;
pub mod tensor_types;

pub use encode::RowOrder;
pub use spec::{Arch, Llama3RopeScaling, ModelDims, ModelSpec, OutputFormat, Preset, WeightDtype};

use crate::files::{FileError, GgufWriteError, SafetensorsWriteError};
use quant_formats::QuantError;
use std::path::PathBuf;

/// Errors from generating a test model.
#[derive(Debug, thiserror::Error)]
pub enum MakeModelError {
    #[error(
        "{dtype} weights cannot be stored in safetensors (f32, f16, bf16 only); use the gguf format"
    )]
    DtypeNotInSafetensors { dtype: WeightDtype },
    #[error("vocab fixture: {0}")]
    Vocab(#[from] FileError),
    #[error("vocab fixture {path}: {found} tokens, the model expects {expected}")]
    VocabSize {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error(transparent)]
    TensorType(#[from] tensor_types::NoFallback),
    #[error("tensor '{name}': {source}")]
    Quantize { name: String, source: QuantError },
    #[error(transparent)]
    Gguf(#[from] GgufWriteError),
    #[error(transparent)]
    Safetensors(#[from] SafetensorsWriteError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Generation progress, in weight elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// What `make_model` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeModel {
    /// The GGUF file, or the safetensors file followed by `config.json` and
    /// `generation_config.json`.
    pub files: Vec<PathBuf>,
    pub tensor_count: usize,
    /// Bytes of tensor data (without headers or padding).
    pub tensor_bytes: u64,
}

/// Writes the model `spec` describes.
pub fn make_model(spec: &ModelSpec) -> Result<MadeModel, MakeModelError> {
    make_model_with_progress(spec, &|_| {})
}

/// Writes the model `spec` describes, reporting progress after each chunk of rows.
pub fn make_model_with_progress(
    spec: &ModelSpec,
    progress: &dyn Fn(Progress),
) -> Result<MadeModel, MakeModelError> {
    let dims = ModelDims::for_preset(spec.arch, spec.preset);
    match spec.format {
        OutputFormat::Gguf => gguf_output::write_gguf(spec, &dims, progress),
        OutputFormat::Safetensors => {
            if !spec.dtype.is_float() {
                return Err(MakeModelError::DtypeNotInSafetensors { dtype: spec.dtype });
            }
            safetensors_output::write_checkpoint(spec, &dims, progress)
        }
    }
}
