//! `Model`: a checkpoint opened for the CPU reference forward, and `CpuSession`, one sequence.

use super::cpu_ops::{CpuMatrix, CpuOps, CpuWeightSink};
use super::error::{ForwardError, LoadError};
use super::kv_cache::CpuKvCache;
use super::rope::RopeTable;
use super::transformer::forward;
use crate::config::{CheckpointFormat, ModelConfig};
use crate::files::{ModelFile, TensorSource};
use crate::weights::{ModelWeights, load_weights};
use std::path::Path;

/// A model ready for the CPU forward. Weights stay in the mapped file in their stored format.
pub struct Model {
    file: ModelFile,
    config: ModelConfig,
    format: CheckpointFormat,
    weights: ModelWeights<CpuMatrix, Vec<f32>>,
    rope: RopeTable,
}

impl Model {
    /// Opens a GGUF file, a Hugging Face checkpoint directory, or its `.safetensors` /
    /// `.safetensors.index.json` file (with `config.json` beside it).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        Self::from_file(ModelFile::open(path)?)
    }

    /// Builds the model from an opened file.
    pub fn from_file(file: ModelFile) -> Result<Self, LoadError> {
        let path = file.source_name().to_owned();
        let (config, format) = match &file {
            ModelFile::Gguf(gguf) => (ModelConfig::from_gguf(gguf), CheckpointFormat::Gguf),
            ModelFile::Safetensors(ckpt) => {
                let json = ckpt
                    .config()
                    .ok_or_else(|| LoadError::NoConfig { path: path.clone() })?;
                (
                    ModelConfig::from_hf_config(json),
                    CheckpointFormat::HfSafetensors,
                )
            }
        };
        let config = config.map_err(|source| LoadError::Config {
            path: path.clone(),
            source,
        })?;
        let weights = load_weights(
            &file,
            &config,
            format,
            &mut CpuWeightSink { source_name: &path },
        )?;
        let rope = RopeTable::new(&config);
        Ok(Model {
            file,
            config,
            format,
            weights,
            rope,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn format(&self) -> CheckpointFormat {
        self.format
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    pub fn weights(&self) -> &ModelWeights<CpuMatrix, Vec<f32>> {
        &self.weights
    }

    pub fn rope(&self) -> &RopeTable {
        &self.rope
    }

    /// A new sequence with room for `capacity` positions (at most the model's context).
    pub fn session(&self, capacity: usize) -> Result<CpuSession<'_>, ForwardError> {
        if capacity > self.config.max_context {
            return Err(ForwardError::ContextTooLong {
                requested: capacity,
                max: self.config.max_context,
            });
        }
        let c = &self.config;
        Ok(CpuSession {
            model: self,
            cache: CpuKvCache::new(c.n_layers, c.n_kv_heads, c.head_dim, capacity),
            pos: 0,
        })
    }
}

/// One sequence being generated: the KV cache and the next position.
pub struct CpuSession<'m> {
    model: &'m Model,
    cache: CpuKvCache,
    pos: usize,
}

impl CpuSession<'_> {
    /// Runs `tokens` after what the session holds; returns the logits of every one of them,
    /// row-major `[tokens.len(), vocab]`.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        let m = self.model;
        let mut ops = CpuOps { source: &m.file };
        let logits = forward(
            &mut ops,
            &m.config,
            &m.weights,
            &m.rope,
            &mut self.cache,
            tokens,
            self.pos,
        )?;
        self.pos += tokens.len();
        Ok(logits.data)
    }

    /// Runs one token; returns its logits `[vocab]`.
    pub fn decode(&mut self, token: u32) -> Result<Vec<f32>, ForwardError> {
        self.prefill(&[token])
    }

    /// Positions processed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Forgets positions from `pos` on (keeps a shared prefix); `pos` past the end is clamped.
    pub fn truncate(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }
}
