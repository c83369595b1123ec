//! What a request asks of the sampler.

/// Sampling settings. Defaults draw from the unmodified distribution at temperature 1.
///
/// Semantics follow llama.cpp's sampler chain (`common/sampling.cpp`, `src/llama-sampling.cpp`):
/// penalties, then top-k, top-p, min-p, then temperature, then the draw. Note that top-p and
/// min-p therefore see the distribution *before* temperature (llama.cpp's order; vLLM applies
/// temperature first).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; `0` picks the highest (penalised) logit, first on ties.
    pub temperature: f32,
    /// Keep the k highest logits; `0` disables.
    pub top_k: usize,
    /// Keep the smallest prefix of tokens by probability whose mass reaches `top_p`; `1` disables.
    pub top_p: f32,
    /// Keep tokens whose probability is at least `min_p` times the best one's; `0` disables.
    pub min_p: f32,
    /// llama.cpp's repeat penalty: a seen token's logit is divided by it when positive, multiplied
    /// when negative; `1` disables.
    pub repetition_penalty: f32,
    /// Subtracted once per occurrence of a token in the penalty window (OpenAI/llama.cpp).
    pub frequency_penalty: f32,
    /// Subtracted once from every token present in the penalty window.
    pub presence_penalty: f32,
    /// How many of the most recent tokens the penalties look at (llama.cpp `penalty_last_n`);
    /// `usize::MAX` for all of them, `0` disables the penalties.
    pub penalty_last_n: usize,
    /// Seed of the ChaCha20 stream the draws come from: same seed, same logits → same tokens.
    pub seed: u64,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Generation stops when the text contains one of these; the text ends before it.
    pub stop_strings: Vec<String>,
    /// Generation stops after one of these tokens (typically EOS/EOT); it is not emitted as text.
    pub stop_token_ids: Vec<u32>,
    /// Return the chosen token's log-probability and the `n` most likely alternatives.
    pub logprobs: Option<usize>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
            max_tokens: 256,
            stop_strings: Vec::new(),
            stop_token_ids: Vec::new(),
            logprobs: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding: temperature 0, no filters, no penalties.
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            ..Self::default()
        }
    }

    /// Rejects values that have no meaning (negative temperature, top_p outside (0, 1], …).
    pub fn validate(&self) -> Result<(), SamplingError> {
        let check = |ok: bool, name: &'static str, value: f32| {
            if ok {
                Ok(())
            } else {
                Err(SamplingError::InvalidParam {
                    name,
                    value: value.to_string(),
                })
            }
        };
        check(
            self.temperature.is_finite() && self.temperature >= 0.0,
            "temperature",
            self.temperature,
        )?;
        check(self.top_p > 0.0 && self.top_p <= 1.0, "top_p", self.top_p)?;
        check((0.0..=1.0).contains(&self.min_p), "min_p", self.min_p)?;
        check(
            self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0,
            "repetition_penalty",
            self.repetition_penalty,
        )?;
        check(
            self.frequency_penalty.is_finite(),
            "frequency_penalty",
            self.frequency_penalty,
        )?;
        check(
            self.presence_penalty.is_finite(),
            "presence_penalty",
            self.presence_penalty,
        )?;
        if self.stop_strings.iter().any(String::is_empty) {
            return Err(SamplingError::InvalidParam {
                name: "stop",
                value: "\"\"".into(),
            });
        }
        Ok(())
    }
}

/// Why sampling cannot proceed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SamplingError {
    #[error("sampling parameter `{name}` has an invalid value {value}")]
    InvalidParam { name: &'static str, value: String },
    #[error("no token to sample: the logits are empty or all NaN / -inf")]
    NoCandidates,
}
