//! RoPE variants: which dimensions rotate together, and llama3 frequency scaling.

/// The rope type llama.cpp assigns an architecture (`enum llama_rope_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RopeStyle {
    /// `LLAMA_ROPE_TYPE_NORM`: rotates adjacent pairs (2i, 2i+1).
    Normal,
    /// `LLAMA_ROPE_TYPE_NEOX`: rotates (i, i + d/2).
    NeoX,
}

/// Where the weights come from; decides how q/k rows are ordered within a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckpointFormat {
    Gguf,
    HfSafetensors,
}

/// Which two dimensions of a head one RoPE rotation acts on, for weights as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RopePairing {
    /// Pair i is (2i, 2i+1): ggml's "normal" rope.
    Adjacent,
    /// Pair i is (i, i + d/2): NeoX / Hugging Face `rotate_half`.
    HalfSplit,
}

impl RopePairing {
    /// The one place that decides the pairing from the file format and the architecture.
    ///
    /// Hugging Face applies `rotate_half` (pair i = (i, i + d/2)) for every family here. For
    /// Llama/Mistral, llama.cpp's converter (`convert_hf_to_gguf.py`, `LlamaModel.permute`)
    /// reorders the rows of `q_proj`/`k_proj` inside each head so that HF's dimension `i` lands on
    /// `2i` and `i + d/2` on `2i + 1`; rotating adjacent pairs of the permuted projection is then
    /// exactly HF's half-split rotation of the original one, and llama.cpp uses its "normal" rope.
    /// Qwen2/Qwen3 GGUF weights are not permuted, and llama.cpp uses NeoX rope for them.
    pub const fn for_checkpoint(format: CheckpointFormat, ggml_style: RopeStyle) -> Self {
        match (format, ggml_style) {
            (CheckpointFormat::HfSafetensors, _) => RopePairing::HalfSplit,
            (CheckpointFormat::Gguf, RopeStyle::Normal) => RopePairing::Adjacent,
            (CheckpointFormat::Gguf, RopeStyle::NeoX) => RopePairing::HalfSplit,
        }
    }
}

/// The `rope_type: "llama3"` parameters of a Hugging Face config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3RopeScaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

/// Per-pair frequency divisors for llama3 rope scaling, `rope_dim / 2` long: the scaled inverse
/// frequency of pair i is `theta^(-2i/rope_dim) / factors[i]`.
///
/// Mirrors transformers' `_compute_llama3_parameters` (src/transformers/modeling_rope_utils.py):
/// wavelengths shorter than `original / high_freq_factor` keep their frequency, longer than
/// `original / low_freq_factor` are divided by `factor`, and the band between is interpolated with
/// `smooth = (original / wavelen - low) / (high - low)`. llama.cpp's converter stores the same
/// ratios as the `rope_freqs.weight` tensor (`LlamaModel.generate_extra_tensors`).
pub fn llama3_frequency_factors(
    theta: f64,
    rope_dim: usize,
    scaling: &Llama3RopeScaling,
) -> Vec<f32> {
    let low_freq_wavelen = scaling.original_max_position_embeddings / scaling.low_freq_factor;
    let high_freq_wavelen = scaling.original_max_position_embeddings / scaling.high_freq_factor;
    (0..rope_dim / 2)
        .map(|i| {
            // HF computes inv_freq in f32: base ** (arange(0, dim, 2).float() / dim).
            let inv_freq = f64::from(1.0 / (theta as f32).powf((2 * i) as f32 / rope_dim as f32));
            let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
            let scaled = if wavelen < high_freq_wavelen {
                inv_freq
            } else if wavelen > low_freq_wavelen {
                inv_freq / scaling.factor
            } else {
                let smooth = (scaling.original_max_position_embeddings / wavelen
                    - scaling.low_freq_factor)
                    / (scaling.high_freq_factor - scaling.low_freq_factor);
                (1.0 - smooth) * inv_freq / scaling.factor + smooth * inv_freq
            };
            (inv_freq / scaled) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA31: Llama3RopeScaling = Llama3RopeScaling {
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192.0,
    };

    #[test]
    fn llama3_factors_cover_the_three_bands() {
        let factors = llama3_frequency_factors(500_000.0, 128, &LLAMA31);
        assert_eq!(factors.len(), 64);
        // Highest frequency (wavelength 2π) is untouched; lowest is divided by the full factor.
        assert_eq!(factors[0], 1.0);
        assert_eq!(factors[63], 8.0);
        // Monotone non-decreasing, with at least one interpolated value strictly between.
        assert!(factors.windows(2).all(|w| w[0] <= w[1]));
        assert!(factors.iter().any(|&f| f > 1.0 && f < 8.0));
    }

    #[test]
    fn llama3_factor_matches_hand_computed_medium_band_value() {
        // Pair i = 32 of dim 128 at θ = 500000: inv_freq = 500000^(-64/128), wavelength ≈ 4443.
        let factors = llama3_frequency_factors(500_000.0, 128, &LLAMA31);
        let inv_freq = f64::from(1.0 / 500_000f32.powf(64.0 / 128.0));
        let wavelen = 2.0 * std::f64::consts::PI / inv_freq;
        assert!(
            wavelen > 2048.0 && wavelen < 8192.0,
            "pair 32 is in the medium band: {wavelen}"
        );
        let smooth = (8192.0 / wavelen - 1.0) / 3.0;
        let expected = 1.0 / ((1.0 - smooth) / 8.0 + smooth);
        assert!((f64::from(factors[32]) - expected).abs() < 1e-6 * expected);
    }

    #[test]
    fn pairing_follows_format_and_arch() {
        use CheckpointFormat::*;
        assert_eq!(
            RopePairing::for_checkpoint(Gguf, RopeStyle::Normal),
            RopePairing::Adjacent
        );
        assert_eq!(
            RopePairing::for_checkpoint(Gguf, RopeStyle::NeoX),
            RopePairing::HalfSplit
        );
        assert_eq!(
            RopePairing::for_checkpoint(HfSafetensors, RopeStyle::Normal),
            RopePairing::HalfSplit
        );
    }
}
