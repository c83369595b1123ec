//! `ModelConfig` from GGUF metadata and tensor names, with llama.cpp's key names
//! (`LLM_KV_*` in src/llama-arch.cpp) and defaults (`llama_model::load_hparams`).

use super::rope::{CheckpointFormat, RopePairing};
use super::{Architecture, ConfigError, ModelConfig};

/// What config loading needs from a GGUF file: typed metadata and tensor presence.
/// Implemented by `files::GgufFile`; tests implement it over a map.
pub trait GgufMetadata {
    /// An integer value of any GGUF integer width, `None` when absent;
    /// `Err(type name)` when the key holds something else.
    fn meta_int(&self, key: &str) -> Result<Option<i128>, String>;
    /// A float (f32 or f64) value; integers are accepted too.
    fn meta_float(&self, key: &str) -> Result<Option<f64>, String>;
    /// A string value.
    fn meta_str(&self, key: &str) -> Result<Option<&str>, String>;
    /// The shape of a tensor (outermost first: a weight is `[n_out, n_in]`), `None` when absent.
    fn tensor_shape(&self, name: &str) -> Option<Vec<u64>>;
    /// The elements of a small tensor as f32 (used for `rope_freqs.weight`).
    fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, String>;
}

impl ModelConfig {
    /// Builds the config of a GGUF model from its metadata and tensor names.
    pub fn from_gguf(file: &impl GgufMetadata) -> Result<Self, ConfigError> {
        let arch_name = str_key(file, "general.architecture")?
            .ok_or(ConfigError::Missing("general.architecture".into()))?;
        // Mistral GGUF files use the `llama` architecture (the computation is identical).
        let arch = match arch_name {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            "qwen3" => Architecture::Qwen3,
            other => return Err(ConfigError::UnsupportedArchitecture(other.to_owned())),
        };
        let key = |suffix: &str| format!("{arch_name}.{suffix}");

        let hidden_size = req_usize(file, &key("embedding_length"))?;
        let n_heads = req_usize(file, &key("attention.head_count"))?;
        let n_kv_heads = usize_key(file, &key("attention.head_count_kv"))?.unwrap_or(n_heads);
        let head_dim = match usize_key(file, &key("attention.key_length"))? {
            Some(d) => d,
            None if n_heads > 0 => hidden_size / n_heads,
            None => return Err(ConfigError::Missing(key("attention.key_length"))),
        };
        if let Some(value_dim) = usize_key(file, &key("attention.value_length"))?
            && value_dim != head_dim
        {
            return Err(ConfigError::Unsupported(format!(
                "value head dim {value_dim} != key head dim {head_dim}"
            )));
        }
        let rope_dim = usize_key(file, &key("rope.dimension_count"))?.unwrap_or(head_dim);
        let rope_theta = float_key(file, &key("rope.freq_base"))?.unwrap_or(10_000.0);

        reject_rope_scaling(file, arch_name)?;
        let rope_freq_factors = match file.tensor_shape("rope_freqs.weight") {
            Some(_) => Some(file.tensor_f32("rope_freqs.weight").map_err(|reason| {
                ConfigError::Invalid {
                    field: "rope_freqs.weight",
                    reason,
                }
            })?),
            None => None,
        };

        let vocab_size = match usize_key(file, &key("vocab_size"))? {
            Some(v) => v,
            None => match file.tensor_shape("token_embd.weight").as_deref() {
                Some([rows, _]) => to_usize("token_embd.weight", *rows)?,
                _ => {
                    return Err(ConfigError::Missing(
                        "token_embd.weight [vocab, hidden]".into(),
                    ));
                }
            },
        };
        let trained_context = usize_key(file, &key("context_length"))?.unwrap_or(2048);
        let max_context = match usize_key(file, &key("attention.sliding_window"))? {
            Some(window) if window > 0 => trained_context.min(window),
            _ => trained_context,
        };

        let has = |name: &str| file.tensor_shape(name).is_some();
        let qk_norm = has("blk.0.attn_q_norm.weight");
        if arch == Architecture::Qwen3 && !qk_norm {
            return Err(ConfigError::Missing(
                "blk.0.attn_q_norm.weight (Qwen3 q/k norm)".into(),
            ));
        }
        ModelConfig {
            arch,
            hidden_size,
            n_layers: req_usize(file, &key("block_count"))?,
            ffn_size: req_usize(file, &key("feed_forward_length"))?,
            n_heads,
            n_kv_heads,
            head_dim,
            vocab_size,
            rms_norm_eps: float_key(file, &key("attention.layer_norm_rms_epsilon"))?
                .ok_or_else(|| ConfigError::Missing(key("attention.layer_norm_rms_epsilon")))?
                as f32,
            rope_theta,
            rope_dim,
            rope_freq_factors,
            rope_pairing: RopePairing::for_checkpoint(
                CheckpointFormat::Gguf,
                arch.ggml_rope_style(),
            ),
            max_context,
            qkv_bias: has("blk.0.attn_q.bias"),
            attn_out_bias: has("blk.0.attn_output.bias"),
            qk_norm,
            tied_embeddings: !has("output.weight"),
        }
        .validate()
    }
}

/// Rope scaling other than none (or llama3, which llama.cpp expresses as `rope_freqs.weight`) is
/// not implemented: linear, yarn and the legacy `rope.scale_linear` key are errors when they scale.
fn reject_rope_scaling(file: &impl GgufMetadata, arch: &str) -> Result<(), ConfigError> {
    let scaling_type = str_key(file, &format!("{arch}.rope.scaling.type"))?.unwrap_or("none");
    let factor = float_key(file, &format!("{arch}.rope.scaling.factor"))?
        .or(float_key(file, &format!("{arch}.rope.scale_linear"))?)
        .unwrap_or(1.0);
    // llama.cpp applies the factor whatever the type says (`rope_freq_scale_train = 1 / factor`).
    if factor != 1.0 && factor != 0.0 {
        return Err(ConfigError::UnsupportedRopeType(format!(
            "{scaling_type} (factor {factor})"
        )));
    }
    if !matches!(scaling_type, "none" | "linear" | "yarn") {
        return Err(ConfigError::UnsupportedRopeType(scaling_type.to_owned()));
    }
    Ok(())
}

fn wrong_type(key: &str, found: String) -> ConfigError {
    ConfigError::Invalid {
        field: "gguf metadata",
        reason: format!("`{key}` holds {found}"),
    }
}

fn to_usize(key: &str, value: impl TryInto<usize>) -> Result<usize, ConfigError> {
    value.try_into().map_err(|_| ConfigError::Invalid {
        field: "gguf metadata",
        reason: format!("`{key}` is out of range"),
    })
}

fn usize_key(file: &impl GgufMetadata, key: &str) -> Result<Option<usize>, ConfigError> {
    match file.meta_int(key).map_err(|found| wrong_type(key, found))? {
        Some(v) => Ok(Some(to_usize(key, v)?)),
        None => Ok(None),
    }
}

fn req_usize(file: &impl GgufMetadata, key: &str) -> Result<usize, ConfigError> {
    usize_key(file, key)?.ok_or_else(|| ConfigError::Missing(key.to_owned()))
}

fn float_key(file: &impl GgufMetadata, key: &str) -> Result<Option<f64>, ConfigError> {
    file.meta_float(key).map_err(|found| wrong_type(key, found))
}

fn str_key<'a>(file: &'a impl GgufMetadata, key: &str) -> Result<Option<&'a str>, ConfigError> {
    file.meta_str(key).map_err(|found| wrong_type(key, found))
}

impl GgufMetadata for crate::files::GgufFile {
    fn meta_int(&self, key: &str) -> Result<Option<i128>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_integer().map(Some).ok_or_else(|| v.type_name()),
        }
    }

    fn meta_float(&self, key: &str) -> Result<Option<f64>, String> {
        use crate::files::GgufValue;
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::F32(v)) => Ok(Some(f64::from(*v))),
            Some(GgufValue::F64(v)) => Ok(Some(*v)),
            Some(v) => v
                .as_integer()
                .map(|i| Some(i as f64))
                .ok_or_else(|| v.type_name()),
        }
    }

    fn meta_str(&self, key: &str) -> Result<Option<&str>, String> {
        use crate::files::GgufValue;
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::String(s)) => Ok(Some(s)),
            Some(v) => Err(v.type_name()),
        }
    }

    fn tensor_shape(&self, name: &str) -> Option<Vec<u64>> {
        self.tensor(name).ok().map(|t| t.shape.clone())
    }

    fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, String> {
        let info = self.tensor(name).map_err(|e| e.to_string())?;
        let len = usize::try_from(info.elements()).map_err(|e| e.to_string())?;
        let mut out = vec![0.0; len];
        quant_formats::dequantize_row(info.ty, self.tensor_bytes(info), &mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }
}
