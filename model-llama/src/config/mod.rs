//! The hyper-parameters of a Llama-family model, read from GGUF metadata or a Hugging Face
//! `config.json`, validated once at load.
//!
//! Llama, Mistral, Qwen2 and Qwen3 are one model here: the fields below (`qkv_bias`, `rope_pairing`,
//! `qk_norm`, `tied_embeddings`, llama3 rope factors) drive the single forward. Anything this engine
//! cannot run exactly is a [`ConfigError`] at load, never a silent approximation.

mod gguf;
mod hf;
mod rope;

pub use gguf::GgufMetadata;
pub use rope::{
    CheckpointFormat, Llama3RopeScaling, RopePairing, RopeStyle, llama3_frequency_factors,
};

/// A model family the forward runs. Mistral GGUF files say `llama`; Mistral HF configs say
/// `MistralForCausalLM` (same computation, optional sliding window).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
}

impl Architecture {
    /// The ggml rope type llama.cpp uses for this architecture (`llama_model_rope_type`):
    /// adjacent pairs for Llama/Mistral (whose GGUF q/k weights are permuted by the converter),
    /// NeoX half-split for Qwen2/Qwen3.
    pub const fn ggml_rope_style(self) -> RopeStyle {
        match self {
            Architecture::Llama | Architecture::Mistral => RopeStyle::Normal,
            Architecture::Qwen2 | Architecture::Qwen3 => RopeStyle::NeoX,
        }
    }

    /// The `general.architecture` value of a GGUF file of this family.
    pub const fn gguf_name(self) -> &'static str {
        match self {
            Architecture::Llama | Architecture::Mistral => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Qwen3 => "qwen3",
        }
    }
}

/// Validated model hyper-parameters. All sizes are element counts.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub arch: Architecture,
    /// d_model: width of the residual stream.
    pub hidden_size: usize,
    pub n_layers: usize,
    /// Width of the SwiGLU hidden layer (gate/up outputs).
    pub ffn_size: usize,
    pub n_heads: usize,
    /// Key/value heads (GQA when < n_heads; n_heads % n_kv_heads == 0).
    pub n_kv_heads: usize,
    /// Per-head width; may differ from hidden_size / n_heads (Qwen3).
    pub head_dim: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f32,
    /// RoPE base θ.
    pub rope_theta: f64,
    /// Rotated dimensions per head (== head_dim; partial rotary is rejected).
    pub rope_dim: usize,
    /// Per-pair frequency divisors, `rope_dim / 2` long (llama.cpp's `rope_freqs.weight`):
    /// the angle of pair i at position p is `p * theta^(-2i/rope_dim) / factors[i]`.
    /// `None` for plain RoPE.
    pub rope_freq_factors: Option<Vec<f32>>,
    /// Which dimensions RoPE rotates together, for the weights as stored in this checkpoint.
    pub rope_pairing: RopePairing,
    /// Longest sequence the model supports exactly: the trained context, capped by the sliding
    /// window when one is configured (past it, windowed attention would differ from full attention).
    pub max_context: usize,
    /// q_proj/k_proj/v_proj carry a bias (always for Qwen2; `attention_bias` for Llama/Qwen3).
    pub qkv_bias: bool,
    /// o_proj carries a bias (`attention_bias` for Llama/Qwen3; never for Qwen2).
    pub attn_out_bias: bool,
    /// Per-head RMSNorm of q and k before RoPE (Qwen3), weights `[head_dim]`.
    pub qk_norm: bool,
    /// The output projection reuses the token embedding matrix.
    pub tied_embeddings: bool,
}

impl ModelConfig {
    /// Width of the concatenated query heads (`n_heads * head_dim`).
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// Width of the concatenated key (or value) heads (`n_kv_heads * head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Checks the invariants the forward relies on.
    fn validate(self) -> Result<Self, ConfigError> {
        let positive = [
            ("hidden_size", self.hidden_size),
            ("n_layers", self.n_layers),
            ("ffn_size", self.ffn_size),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
            ("max_context", self.max_context),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be positive".into(),
                });
            }
        }
        if !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return Err(ConfigError::Invalid {
                field: "n_kv_heads",
                reason: format!(
                    "{} query heads are not a multiple of {} kv heads",
                    self.n_heads, self.n_kv_heads
                ),
            });
        }
        if self.rope_dim != self.head_dim {
            return Err(ConfigError::Unsupported(format!(
                "partial rotary embedding (rope dim {} of head dim {})",
                self.rope_dim, self.head_dim
            )));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(ConfigError::Invalid {
                field: "head_dim",
                reason: format!("{} is odd", self.head_dim),
            });
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err(ConfigError::Invalid {
                field: "rope_theta",
                reason: format!("{}", self.rope_theta),
            });
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps >= 0.0) {
            return Err(ConfigError::Invalid {
                field: "rms_norm_eps",
                reason: format!("{}", self.rms_norm_eps),
            });
        }
        if let Some(factors) = &self.rope_freq_factors {
            if factors.len() != self.rope_dim / 2 {
                return Err(ConfigError::Invalid {
                    field: "rope_freq_factors",
                    reason: format!(
                        "{} factors for {} rotated pairs",
                        factors.len(),
                        self.rope_dim / 2
                    ),
                });
            }
            if factors.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
                return Err(ConfigError::Invalid {
                    field: "rope_freq_factors",
                    reason: "a factor is not a positive finite number".into(),
                });
            }
        }
        Ok(self)
    }
}

/// Why a model configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("unsupported architecture `{0}` (supported: Llama, Mistral, Qwen2, Qwen3)")]
    UnsupportedArchitecture(String),
    #[error("unsupported rope type `{0}` (supported: default, llama3)")]
    UnsupportedRopeType(String),
    #[error("unsupported model feature: {0}")]
    Unsupported(String),
    #[error("missing config field `{0}`")]
    Missing(String),
    #[error("config field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("config.json is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}
