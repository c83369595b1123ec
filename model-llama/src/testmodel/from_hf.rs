//! A Hugging Face safetensors checkpoint (Llama, Mistral, Qwen2, Qwen3) as a GGUF file of any
//! weight type, the way llama.cpp's `convert_hf_to_gguf.py` followed by `llama-quantize` writes it.
//!
//! The tensor set and shapes come from the checkpoint's `config.json` through the loader the
//! forward uses ([`load_weights`]), so a tensor the config does not explain is an error; tensor
//! names come from [`tensor_name`]; types, metadata keys, the Llama/Mistral q/k row permutation
//! and `rope_freqs.weight` come from the same code that writes generated test models
//! ([`super::tensor_types`], [`super::gguf_output`], [`super::layout`]). Mistral is written as
//! `llama`, as `convert_hf_to_gguf.py` (`LlamaModel`) does. No tokenizer is written.

use super::encode::RowOrder;
use super::gguf_output::{GgufModel, model_metadata, write_model_gguf};
use super::layout::{Role, TensorDef};
use super::{MadeModel, MakeModelError, ModelDims, Progress, WeightDtype};
use crate::config::{CheckpointFormat, ConfigError, ModelConfig, RopeStyle};
use crate::files::{FileError, SafetensorsCheckpoint, TensorInfo};
use crate::weights::{ModelWeights, Tensor, WeightError, WeightSink, load_weights, tensor_name};
use quant_formats::GgmlType;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How to convert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Type of the matrices (llama.cpp's per-tensor rules and fallbacks apply).
    pub dtype: WeightDtype,
    /// `GgufPermuted` as llama.cpp writes; `AsGenerated` keeps Llama/Mistral q/k rows in Hugging
    /// Face order, which makes a file the GGUF loader misreads (for tests that must see it fail).
    pub qk_rows: RowOrder,
}

impl ConvertOptions {
    /// llama.cpp's layout with matrices of `dtype`.
    pub fn new(dtype: WeightDtype) -> Self {
        ConvertOptions {
            dtype,
            qk_rows: RowOrder::GgufPermuted,
        }
    }
}

/// Why a checkpoint cannot be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Open(#[from] FileError),
    #[error("{dir}: no config.json beside the weights")]
    NoConfig { dir: PathBuf },
    #[error("{dir}/config.json: {source}")]
    Config { dir: PathBuf, source: ConfigError },
    #[error(transparent)]
    Weights(#[from] WeightError),
    #[error(transparent)]
    Write(#[from] MakeModelError),
}

/// Converts the checkpoint in `hf_dir` (a directory, or its `.safetensors` / index file) into
/// the GGUF file `out`.
pub fn convert_hf_to_gguf(
    hf_dir: &Path,
    options: ConvertOptions,
    out: &Path,
    progress: &dyn Fn(Progress),
) -> Result<MadeModel, ConvertError> {
    let checkpoint = SafetensorsCheckpoint::open(hf_dir)?;
    let dir = checkpoint.dir().to_owned();
    let json = checkpoint
        .config()
        .ok_or_else(|| ConvertError::NoConfig { dir: dir.clone() })?;
    let config = ModelConfig::from_hf_config(json).map_err(|source| ConvertError::Config {
        dir: dir.clone(),
        source,
    })?;
    let located = load_weights(
        &checkpoint,
        &config,
        CheckpointFormat::HfSafetensors,
        &mut LocateTensors,
    )?;
    let defs = tensor_defs(&located, &config);
    let dims = model_dims(&config);
    let name = dir.file_name().map_or_else(
        || "converted".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );

    // Hugging Face name -> (stored type, data): F32, F16 or BF16 rows of `[rows, row_len]`.
    let sources: HashMap<&str, (GgmlType, &[u8])> = checkpoint
        .tensors()
        .iter()
        .map(|info| (info.name.as_str(), (info.ty, checkpoint.tensor_bytes(info))))
        .collect();
    let fill = |def: &TensorDef, row: u64, out: &mut [f32]| -> Result<(), MakeModelError> {
        // Every def comes from the checkpoint with its shape checked; an absent tensor or row
        // would surface as a length error from `dequantize_row`, not a panic.
        let (ty, data) = sources
            .get(def.hf_name.as_str())
            .copied()
            .unwrap_or((GgmlType::F32, &[]));
        let row_bytes = out.len() / ty.block_elems() * ty.block_bytes();
        let start = usize::try_from(row)
            .unwrap_or(usize::MAX)
            .saturating_mul(row_bytes);
        let bytes = data
            .get(start..start.saturating_add(row_bytes))
            .unwrap_or_default();
        quant_formats::dequantize_row(ty, bytes, out).map_err(|source| MakeModelError::Quantize {
            name: def.hf_name.clone(),
            source,
        })
    };
    Ok(write_model_gguf(
        GgufModel {
            out,
            metadata: model_metadata(
                config.arch.gguf_name(),
                format!("{name} (converted from Hugging Face safetensors)"),
                &dims,
                options.dtype,
            ),
            rope_factors: config.rope_freq_factors.clone(),
            defs: &defs,
            dtype: options.dtype,
            dims: &dims,
            qk_rows: options.qk_rows,
        },
        &fill,
        progress,
    )?)
}

/// A [`WeightSink`] that keeps only where each tensor is: the loader then checks the checkpoint's
/// tensor set and shapes against the config, and nothing is copied.
struct LocateTensors;

impl WeightSink for LocateTensors {
    type Matrix = TensorInfo;
    type Vector = TensorInfo;

    fn matrix(&mut self, info: &TensorInfo, _bytes: &[u8]) -> Result<TensorInfo, WeightError> {
        Ok(info.clone())
    }

    fn vector(&mut self, info: &TensorInfo, _values: Vec<f32>) -> Result<TensorInfo, WeightError> {
        Ok(info.clone())
    }
}

/// The tensors of `weights` in llama.cpp's file order, Hugging Face name to GGUF name. Llama and
/// Mistral q/k rows are permuted (ggml's normal rope rotates adjacent pairs, see
/// `RopePairing::for_checkpoint`); Qwen2/Qwen3 rows are not.
fn tensor_defs(
    weights: &ModelWeights<TensorInfo, TensorInfo>,
    config: &ModelConfig,
) -> Vec<TensorDef> {
    let permuted = config.arch.ggml_rope_style() == RopeStyle::Normal;
    let mut defs = Vec::new();
    let mut push = |tensor: Tensor, layer: Option<usize>, info: &TensorInfo, role: Role| {
        let permute_heads = match tensor {
            Tensor::AttnQ if permuted => Some(config.n_heads as u64),
            Tensor::AttnK if permuted => Some(config.n_kv_heads as u64),
            _ => None,
        };
        defs.push(TensorDef {
            hf_name: info.name.clone(),
            gguf_name: tensor_name(CheckpointFormat::Gguf, tensor, layer.unwrap_or(0)),
            shape: info.shape.clone(),
            role,
            layer: layer.map(|l| l as u64),
            gguf_permute_heads: permute_heads,
        });
    };
    push(
        Tensor::TokenEmbedding,
        None,
        &weights.token_embd,
        Role::TokenEmbd,
    );
    for (l, w) in weights.layers.iter().enumerate() {
        let l = Some(l);
        push(Tensor::AttnNorm, l, &w.attn_norm, Role::Norm);
        push(Tensor::AttnQ, l, &w.wq, Role::AttnQ);
        push(Tensor::AttnK, l, &w.wk, Role::AttnK);
        push(Tensor::AttnV, l, &w.wv, Role::AttnV);
        if let Some([q, k, v]) = &w.qkv_bias {
            push(Tensor::AttnQBias, l, q, Role::Bias);
            push(Tensor::AttnKBias, l, k, Role::Bias);
            push(Tensor::AttnVBias, l, v, Role::Bias);
        }
        if let Some([q, k]) = &w.qk_norm {
            push(Tensor::AttnQNorm, l, q, Role::Norm);
            push(Tensor::AttnKNorm, l, k, Role::Norm);
        }
        push(Tensor::AttnOut, l, &w.wo, Role::AttnOutput);
        if let Some(b) = &w.wo_bias {
            push(Tensor::AttnOutBias, l, b, Role::Bias);
        }
        push(Tensor::FfnNorm, l, &w.ffn_norm, Role::Norm);
        push(Tensor::FfnGate, l, &w.w_gate, Role::FfnGate);
        push(Tensor::FfnUp, l, &w.w_up, Role::FfnUp);
        push(Tensor::FfnDown, l, &w.w_down, Role::FfnDown);
    }
    push(Tensor::OutputNorm, None, &weights.output_norm, Role::Norm);
    if let Some(output) = &weights.output {
        push(Tensor::Output, None, output, Role::Output);
    }
    defs
}

/// The hyper-parameters the GGUF metadata and the type rules read. `context_length` is the
/// config's usable context (the sliding window when that is shorter), so the GGUF loader derives
/// the same limit.
fn model_dims(config: &ModelConfig) -> ModelDims {
    ModelDims {
        hidden: config.hidden_size as u64,
        layers: config.n_layers as u64,
        heads: config.n_heads as u64,
        kv_heads: config.n_kv_heads as u64,
        head_dim: config.head_dim as u64,
        ffn: config.ffn_size as u64,
        vocab: config.vocab_size as u64,
        context_length: config.max_context as u64,
        rms_eps: config.rms_norm_eps,
        rope_theta: config.rope_theta as f32,
        tied_embeddings: config.tied_embeddings,
        qkv_bias: config.qkv_bias,
        // The factors are written from `config.rope_freq_factors` instead.
        rope_scaling: None,
        vocab_file: "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parity(family: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/parity")
            .join(family)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("realizar-from-hf-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn convert(dir: &Path) -> Result<MadeModel, ConvertError> {
        let out = dir.join("out.gguf");
        convert_hf_to_gguf(dir, ConvertOptions::new(WeightDtype::Q8_0), &out, &|_| {})
    }

    #[test]
    fn weights_without_config_json_are_an_error() {
        let dir = scratch("no-config");
        std::fs::copy(
            parity("qwen2").join("model.safetensors"),
            dir.join("model.safetensors"),
        )
        .unwrap();
        let result = convert(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            matches!(result, Err(ConvertError::NoConfig { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn weights_the_config_does_not_explain_are_an_error() {
        // Qwen3 weights (q/k norms, head_dim 32) under the Qwen2 config.
        let dir = scratch("mismatch");
        std::fs::copy(
            parity("qwen3").join("model.safetensors"),
            dir.join("model.safetensors"),
        )
        .unwrap();
        std::fs::copy(parity("qwen2").join("config.json"), dir.join("config.json")).unwrap();
        let result = convert(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            matches!(
                result,
                Err(ConvertError::Weights(WeightError::Shape { .. }))
            ),
            "{result:?}"
        );
    }

    /// The tensor definitions of the parity fixture checkpoint `name`.
    fn parity_tensor_defs(name: &str) -> Vec<TensorDef> {
        let checkpoint = SafetensorsCheckpoint::open(parity(name)).unwrap();
        let config = ModelConfig::from_hf_config(checkpoint.config().unwrap()).unwrap();
        let located = load_weights(
            &checkpoint,
            &config,
            CheckpointFormat::HfSafetensors,
            &mut LocateTensors,
        )
        .unwrap();
        tensor_defs(&located, &config)
    }

    #[test]
    fn qwen3_keeps_hf_row_order_and_llama_permutes_q_and_k_by_their_head_counts() {
        let defs = parity_tensor_defs("qwen3");
        assert!(defs.iter().all(|d| d.gguf_permute_heads.is_none()));
        let names: Vec<&str> = defs.iter().map(|d| d.gguf_name.as_str()).collect();
        for name in [
            "blk.1.attn_q_norm.weight",
            "blk.1.attn_k_norm.weight",
            "blk.1.attn_output.bias",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }

        let defs = parity_tensor_defs("llama3");
        let permuted: Vec<(&str, u64)> = defs
            .iter()
            .filter_map(|d| d.gguf_permute_heads.map(|h| (d.gguf_name.as_str(), h)))
            .collect();
        assert_eq!(
            permuted,
            [
                ("blk.0.attn_q.weight", 4),
                ("blk.0.attn_k.weight", 2),
                ("blk.1.attn_q.weight", 4),
                ("blk.1.attn_k.weight", 2),
            ]
        );
    }
}
