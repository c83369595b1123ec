//! Rotary position embedding frequencies, shared by every backend.

use crate::config::{ModelConfig, RopePairing};

/// The per-pair inverse frequencies of one model and how pairs are laid out in a head.
///
/// `inv_freq[i] = 1 / theta^(2i / rope_dim) / freq_factor[i]`, computed in f32 as transformers'
/// `_compute_default_rope_parameters` does; the angle at position p is `(p as f32) * inv_freq[i]`
/// in f32, as `LlamaRotaryEmbedding.forward` computes it (it forces f32 even for f64 models), so
/// the CPU reference reproduces Hugging Face's cos/sin up to libm rounding.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeTable {
    pub pairing: RopePairing,
    pub head_dim: usize,
    /// `[head_dim / 2]`
    pub inv_freq: Vec<f32>,
}

impl RopeTable {
    pub fn new(config: &ModelConfig) -> Self {
        let dim = config.rope_dim;
        let base = config.rope_theta as f32;
        let inv_freq = (0..dim / 2)
            .map(|i| {
                let plain = 1.0 / base.powf((2 * i) as f32 / dim as f32);
                match &config.rope_freq_factors {
                    Some(factors) => plain / factors[i],
                    None => plain,
                }
            })
            .collect();
        RopeTable {
            pairing: config.rope_pairing,
            head_dim: config.head_dim,
            inv_freq,
        }
    }

    /// Rotates one head (`[head_dim]`) in place for position `pos`.
    pub fn rotate(&self, head: &mut [f32], pos: usize) {
        let half = self.head_dim / 2;
        for (i, &inv_freq) in self.inv_freq.iter().enumerate() {
            let angle = pos as f32 * inv_freq;
            let (sin, cos) = angle.sin_cos();
            let (a, b) = match self.pairing {
                RopePairing::Adjacent => (2 * i, 2 * i + 1),
                RopePairing::HalfSplit => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cos - x1 * sin;
            head[b] = x0 * sin + x1 * cos;
        }
    }
}
