//! Named weights of a checkpoint, checked against the config and handed to a backend.
//!
//! The structure ([`ModelWeights`]) is generic over the backend's matrix and vector types, so
//! the CPU reference (which reads matrices from the mapped file) and the GPU forward (which
//! uploads them) share the name mapping, the shape checks and the forward code.

mod names;

pub use names::{Tensor, is_ignorable, tensor_name};

use crate::config::{CheckpointFormat, ModelConfig};
use crate::files::{FileError, TensorInfo, TensorSource};
use quant_formats::QuantError;
use std::collections::HashSet;

/// The weights of one transformer block. Matrices are `[n_out, n_in]` as stored.
#[derive(Debug)]
pub struct LayerWeights<M, V> {
    /// `[hidden]`
    pub attn_norm: V,
    /// `[n_heads * head_dim, hidden]`
    pub wq: M,
    /// `[n_kv_heads * head_dim, hidden]`
    pub wk: M,
    /// `[n_kv_heads * head_dim, hidden]`
    pub wv: M,
    /// `[hidden, n_heads * head_dim]`
    pub wo: M,
    /// `[q_dim]`, `[kv_dim]`, `[kv_dim]` when `config.qkv_bias`.
    pub qkv_bias: Option<[V; 3]>,
    /// `[hidden]` when `config.attn_out_bias`.
    pub wo_bias: Option<V>,
    /// Per-head RMSNorm weights of q and k, `[head_dim]` each, when `config.qk_norm`.
    pub qk_norm: Option<[V; 2]>,
    /// `[hidden]`
    pub ffn_norm: V,
    /// `[ffn, hidden]`
    pub w_gate: M,
    /// `[ffn, hidden]`
    pub w_up: M,
    /// `[hidden, ffn]`
    pub w_down: M,
}

/// All weights of a model.
#[derive(Debug)]
pub struct ModelWeights<M, V> {
    /// `[vocab, hidden]`
    pub token_embd: M,
    pub layers: Vec<LayerWeights<M, V>>,
    /// `[hidden]`
    pub output_norm: V,
    /// `[vocab, hidden]`; `None` when the embeddings are tied.
    pub output: Option<M>,
}

impl<M, V> ModelWeights<M, V> {
    /// The output projection: `output`, or the token embeddings when tied.
    pub fn lm_head(&self) -> &M {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

/// Receives each tensor as it is loaded and turns it into the backend's representation.
pub trait WeightSink {
    type Matrix;
    type Vector;
    /// A weight matrix, shape `[n_out, n_in]` already checked; `bytes` are its data as stored.
    fn matrix(&mut self, info: &TensorInfo, bytes: &[u8]) -> Result<Self::Matrix, WeightError>;
    /// A norm weight or bias, converted to f32.
    fn vector(&mut self, info: &TensorInfo, values: Vec<f32>) -> Result<Self::Vector, WeightError>;
}

/// Why the weights of a checkpoint cannot be used with its config.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{source_name}: tensor '{tensor}' has shape {found:?}, the config implies {expected:?}"
    )]
    Shape {
        source_name: String,
        tensor: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },
    #[error("{source_name}: tensor '{tensor}': {source}")]
    Quant {
        source_name: String,
        tensor: String,
        source: QuantError,
    },
    #[error(
        "{source_name}: tensor '{tensor}' is not used by this {arch} config (unsupported feature?)"
    )]
    Unused {
        source_name: String,
        tensor: String,
        arch: String,
    },
    #[error("{source_name}: tensor '{tensor}' is too large for this platform")]
    TooLarge { source_name: String, tensor: String },
}

/// Loads every tensor the config calls for, checks its shape, and passes it to `sink`. A tensor
/// of the file that the config does not use is an error (it would mean a feature we ignore).
pub fn load_weights<S: WeightSink>(
    source: &dyn TensorSource,
    config: &ModelConfig,
    format: CheckpointFormat,
    sink: &mut S,
) -> Result<ModelWeights<S::Matrix, S::Vector>, WeightError> {
    let mut loader = Loader {
        source,
        format,
        sink,
        used: HashSet::new(),
    };
    let (hidden, q_dim, kv_dim, ffn) = (
        config.hidden_size,
        config.q_dim(),
        config.kv_dim(),
        config.ffn_size,
    );
    let vocab = config.vocab_size;

    let token_embd = loader.matrix(Tensor::TokenEmbedding, 0, [vocab, hidden])?;
    let mut layers = Vec::with_capacity(config.n_layers);
    for l in 0..config.n_layers {
        let qkv_bias = if config.qkv_bias {
            Some([
                loader.vector(Tensor::AttnQBias, l, q_dim)?,
                loader.vector(Tensor::AttnKBias, l, kv_dim)?,
                loader.vector(Tensor::AttnVBias, l, kv_dim)?,
            ])
        } else {
            None
        };
        let qk_norm = if config.qk_norm {
            Some([
                loader.vector(Tensor::AttnQNorm, l, config.head_dim)?,
                loader.vector(Tensor::AttnKNorm, l, config.head_dim)?,
            ])
        } else {
            None
        };
        layers.push(LayerWeights {
            attn_norm: loader.vector(Tensor::AttnNorm, l, hidden)?,
            wq: loader.matrix(Tensor::AttnQ, l, [q_dim, hidden])?,
            wk: loader.matrix(Tensor::AttnK, l, [kv_dim, hidden])?,
            wv: loader.matrix(Tensor::AttnV, l, [kv_dim, hidden])?,
            wo: loader.matrix(Tensor::AttnOut, l, [hidden, q_dim])?,
            qkv_bias,
            wo_bias: if config.attn_out_bias {
                Some(loader.vector(Tensor::AttnOutBias, l, hidden)?)
            } else {
                None
            },
            qk_norm,
            ffn_norm: loader.vector(Tensor::FfnNorm, l, hidden)?,
            w_gate: loader.matrix(Tensor::FfnGate, l, [ffn, hidden])?,
            w_up: loader.matrix(Tensor::FfnUp, l, [ffn, hidden])?,
            w_down: loader.matrix(Tensor::FfnDown, l, [hidden, ffn])?,
        });
    }
    let output_norm = loader.vector(Tensor::OutputNorm, 0, hidden)?;
    let output = if config.tied_embeddings {
        None
    } else {
        Some(loader.matrix(Tensor::Output, 0, [vocab, hidden])?)
    };

    let mut used = loader.used;
    if config.tied_embeddings {
        // Some tied checkpoints still carry a copy of the embeddings as the output matrix; the
        // config says to use the embeddings, so the copy is not read.
        used.insert(tensor_name(format, Tensor::Output, 0));
    }
    if let Some(unused) = source
        .tensors()
        .iter()
        .find(|t| !used.contains(&t.name) && !is_ignorable(&t.name))
    {
        return Err(WeightError::Unused {
            source_name: source.source_name().to_owned(),
            tensor: unused.name.clone(),
            arch: format!("{:?}", config.arch),
        });
    }
    Ok(ModelWeights {
        token_embd,
        layers,
        output_norm,
        output,
    })
}

struct Loader<'a, S> {
    source: &'a dyn TensorSource,
    format: CheckpointFormat,
    sink: &'a mut S,
    used: HashSet<String>,
}

impl<S: WeightSink> Loader<'_, S> {
    fn fetch(
        &mut self,
        tensor: Tensor,
        layer: usize,
        expected: &[usize],
    ) -> Result<&TensorInfo, WeightError> {
        let name = tensor_name(self.format, tensor, layer);
        let info = self.source.tensor(&name)?;
        let expected: Vec<u64> = expected.iter().map(|&d| d as u64).collect();
        if info.shape != expected {
            return Err(WeightError::Shape {
                source_name: self.source.source_name().to_owned(),
                tensor: name,
                expected,
                found: info.shape.clone(),
            });
        }
        self.used.insert(name);
        Ok(info)
    }

    fn matrix(
        &mut self,
        tensor: Tensor,
        layer: usize,
        shape: [usize; 2],
    ) -> Result<S::Matrix, WeightError> {
        let source = self.source;
        let info = self.fetch(tensor, layer, &shape)?.clone();
        self.sink.matrix(&info, source.tensor_bytes(&info))
    }

    fn vector(
        &mut self,
        tensor: Tensor,
        layer: usize,
        len: usize,
    ) -> Result<S::Vector, WeightError> {
        let source = self.source;
        let info = self.fetch(tensor, layer, &[len])?.clone();
        let mut values = vec![0.0f32; len];
        quant_formats::dequantize_row(info.ty, source.tensor_bytes(&info), &mut values).map_err(
            |e| WeightError::Quant {
                source_name: source.source_name().to_owned(),
                tensor: info.name.clone(),
                source: e,
            },
        )?;
        self.sink.vector(&info, values)
    }
}
