//! `ModelConfig` from a Hugging Face `config.json` (LlamaForCausalLM, MistralForCausalLM,
//! Qwen2ForCausalLM, Qwen3ForCausalLM).
//!
//! Defaults follow the transformers config classes (`LlamaConfig`, `MistralConfig`, `Qwen2Config`,
//! `Qwen3Config` in src/transformers/models/*/configuration_*.py). Rope parameters are read from
//! either spelling: `rope_theta` + `rope_scaling` (transformers 4.x) or `rope_parameters`
//! (transformers 5.x, which holds `rope_theta` itself).

use super::rope::{CheckpointFormat, Llama3RopeScaling, RopePairing, llama3_frequency_factors};
use super::{Architecture, ConfigError, ModelConfig};
use serde_json::{Map, Value};

impl ModelConfig {
    /// Parses the text of a Hugging Face `config.json`.
    pub fn from_hf_json(text: &str) -> Result<Self, ConfigError> {
        let value: Value = serde_json::from_str(text)?;
        Self::from_hf_config(&value)
    }

    /// Builds the config from a parsed Hugging Face `config.json`.
    pub fn from_hf_config(config: &Value) -> Result<Self, ConfigError> {
        let obj = config.as_object().ok_or_else(|| ConfigError::Invalid {
            field: "config.json",
            reason: "not a JSON object".into(),
        })?;
        let arch = architecture(obj)?;

        let hidden_act = opt_str(obj, "hidden_act")?.unwrap_or("silu");
        if hidden_act != "silu" {
            return Err(ConfigError::Unsupported(format!(
                "hidden_act `{hidden_act}` (only silu)"
            )));
        }
        if opt_bool(obj, "mlp_bias")?.unwrap_or(false) {
            return Err(ConfigError::Unsupported("mlp_bias".into()));
        }

        let hidden_size = req_usize(obj, "hidden_size")?;
        let n_heads = req_usize(obj, "num_attention_heads")?;
        let n_kv_heads = opt_usize(obj, "num_key_value_heads")?.unwrap_or(n_heads);
        let head_dim = match opt_usize(obj, "head_dim")? {
            Some(d) => d,
            None if n_heads > 0 && hidden_size.is_multiple_of(n_heads) => hidden_size / n_heads,
            None => return Err(ConfigError::Missing("head_dim".into())),
        };
        let attention_bias = opt_bool(obj, "attention_bias")?.unwrap_or(false);
        let (qkv_bias, attn_out_bias) = match arch {
            // Qwen2Attention: q/k/v_proj bias=True, o_proj bias=False, regardless of config.
            Architecture::Qwen2 => (true, false),
            // MistralAttention has no bias at all.
            Architecture::Mistral => (false, false),
            Architecture::Llama | Architecture::Qwen3 => (attention_bias, attention_bias),
        };

        let rope = RopeParams::read(obj)?;
        let partial = match rope.object.and_then(|p| p.get("partial_rotary_factor")) {
            Some(v) => Some(v),
            None => obj.get("partial_rotary_factor"),
        };
        if let Some(p) = partial.and_then(Value::as_f64)
            && p != 1.0
        {
            return Err(ConfigError::Unsupported(format!(
                "partial_rotary_factor {p}"
            )));
        }
        let rope_freq_factors = rope
            .llama3
            .as_ref()
            .map(|scaling| llama3_frequency_factors(rope.theta, head_dim, scaling));

        let max_position = opt_usize(obj, "max_position_embeddings")?.unwrap_or(match arch {
            Architecture::Llama => 2048,
            Architecture::Mistral => 131_072,
            Architecture::Qwen2 | Architecture::Qwen3 => 32_768,
        });
        let max_context = match sliding_window(obj, arch)? {
            Some(window) => max_position.min(window),
            None => max_position,
        };

        ModelConfig {
            arch,
            hidden_size,
            n_layers: req_usize(obj, "num_hidden_layers")?,
            ffn_size: req_usize(obj, "intermediate_size")?,
            n_heads,
            n_kv_heads,
            head_dim,
            vocab_size: req_usize(obj, "vocab_size")?,
            rms_norm_eps: opt_f64(obj, "rms_norm_eps")?.unwrap_or(1e-6) as f32,
            rope_theta: rope.theta,
            rope_dim: head_dim,
            rope_freq_factors,
            rope_pairing: RopePairing::for_checkpoint(
                CheckpointFormat::HfSafetensors,
                arch.ggml_rope_style(),
            ),
            max_context,
            qkv_bias,
            attn_out_bias,
            qk_norm: arch == Architecture::Qwen3,
            tied_embeddings: opt_bool(obj, "tie_word_embeddings")?.unwrap_or(false),
        }
        .validate()
    }
}

fn architecture(obj: &Map<String, Value>) -> Result<Architecture, ConfigError> {
    let from_class = |name: &str| match name {
        "LlamaForCausalLM" => Some(Architecture::Llama),
        "MistralForCausalLM" => Some(Architecture::Mistral),
        "Qwen2ForCausalLM" => Some(Architecture::Qwen2),
        "Qwen3ForCausalLM" => Some(Architecture::Qwen3),
        _ => None,
    };
    let from_model_type = |name: &str| match name {
        "llama" => Some(Architecture::Llama),
        "mistral" => Some(Architecture::Mistral),
        "qwen2" => Some(Architecture::Qwen2),
        "qwen3" => Some(Architecture::Qwen3),
        _ => None,
    };
    if let Some(classes) = obj.get("architectures").and_then(Value::as_array) {
        let first = classes.first().and_then(Value::as_str).unwrap_or("");
        return from_class(first)
            .ok_or_else(|| ConfigError::UnsupportedArchitecture(first.to_owned()));
    }
    let model_type =
        opt_str(obj, "model_type")?.ok_or_else(|| ConfigError::Missing("architectures".into()))?;
    from_model_type(model_type)
        .ok_or_else(|| ConfigError::UnsupportedArchitecture(model_type.to_owned()))
}

/// Rope θ and scaling, from either `rope_parameters` or `rope_theta` + `rope_scaling`.
struct RopeParams<'a> {
    theta: f64,
    llama3: Option<Llama3RopeScaling>,
    object: Option<&'a Map<String, Value>>,
}

impl<'a> RopeParams<'a> {
    fn read(obj: &'a Map<String, Value>) -> Result<Self, ConfigError> {
        let object = ["rope_parameters", "rope_scaling"]
            .iter()
            .find_map(|key| obj.get(*key).filter(|v| !v.is_null()))
            .map(|v| {
                v.as_object().ok_or_else(|| ConfigError::Invalid {
                    field: "rope_parameters",
                    reason: "not an object".into(),
                })
            })
            .transpose()?;
        let theta = match object.and_then(|p| p.get("rope_theta")) {
            Some(v) => v.as_f64().ok_or_else(|| ConfigError::Invalid {
                field: "rope_theta",
                reason: "not a number".into(),
            })?,
            None => opt_f64(obj, "rope_theta")?.unwrap_or(10_000.0),
        };
        let Some(params) = object else {
            return Ok(RopeParams {
                theta,
                llama3: None,
                object,
            });
        };
        // transformers accepts the legacy key `type` for `rope_type`.
        let rope_type = opt_str(params, "rope_type")?
            .or(opt_str(params, "type")?)
            .unwrap_or("default");
        let llama3 = match rope_type {
            "default" => None,
            "llama3" => Some(Llama3RopeScaling {
                factor: req_f64(params, "factor")?,
                low_freq_factor: req_f64(params, "low_freq_factor")?,
                high_freq_factor: req_f64(params, "high_freq_factor")?,
                original_max_position_embeddings: req_f64(
                    params,
                    "original_max_position_embeddings",
                )?,
            }),
            other => return Err(ConfigError::UnsupportedRopeType(other.to_owned())),
        };
        if let Some(s) = &llama3
            && !(s.factor > 0.0
                && s.low_freq_factor > 0.0
                && s.high_freq_factor > s.low_freq_factor)
        {
            return Err(ConfigError::Invalid {
                field: "rope_scaling",
                reason: format!(
                    "llama3 needs factor > 0 and high_freq_factor > low_freq_factor > 0: {s:?}"
                ),
            });
        }
        Ok(RopeParams {
            theta,
            llama3,
            object,
        })
    }
}

/// The attention window when the model uses one (Mistral's `sliding_window`; Qwen2/Qwen3 only with
/// `use_sliding_window`). Llama has none.
fn sliding_window(
    obj: &Map<String, Value>,
    arch: Architecture,
) -> Result<Option<usize>, ConfigError> {
    match arch {
        Architecture::Llama => Ok(None),
        Architecture::Mistral => opt_usize(obj, "sliding_window"),
        Architecture::Qwen2 | Architecture::Qwen3 => {
            if opt_bool(obj, "use_sliding_window")?.unwrap_or(false) {
                opt_usize(obj, "sliding_window")
            } else {
                Ok(None)
            }
        }
    }
}

fn invalid(field: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        field: "config.json",
        reason: format!("`{field}` is not {expected}"),
    }
}

fn opt_usize(obj: &Map<String, Value>, key: &str) -> Result<Option<usize>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(key, "a non-negative integer")),
    }
}

fn req_usize(obj: &Map<String, Value>, key: &str) -> Result<usize, ConfigError> {
    opt_usize(obj, key)?.ok_or_else(|| ConfigError::Missing(key.to_owned()))
}

fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| invalid(key, "a number")),
    }
}

fn req_f64(obj: &Map<String, Value>, key: &str) -> Result<f64, ConfigError> {
    opt_f64(obj, key)?.ok_or_else(|| ConfigError::Missing(key.to_owned()))
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(key, "a boolean")),
    }
}

fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ConfigError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| invalid(key, "a string")),
    }
}
