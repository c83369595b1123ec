//! The sampling flags of `generate` and `chat`, with llama.cpp's defaults (`common/common.h`
//! `common_params_sampling`: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, repeat penalty 1.0
//! over the last 64 tokens).

use clap::Args;
use model_llama::sampling::SamplingParams;
use std::hash::{BuildHasher, RandomState};

#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Most tokens to generate (per reply in chat).
    #[arg(short = 'n', long = "max-tokens", default_value_t = 256)]
    pub max_tokens: usize,
    /// Temperature; 0 picks the most likely token every time (greedy).
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities add up to p; 1 keeps all.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than p times the most likely one; 0 keeps all.
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Divide the logits of recently seen tokens by this (multiply when negative); 1 disables.
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    #[arg(long, default_value_t = 64)]
    pub repeat_last_n: usize,
    /// Seed of the random draws [default: a new one each run, printed with the statistics].
    #[arg(long)]
    pub seed: Option<u64>,
    /// End the generation when the text contains STR (not printed). Repeatable.
    #[arg(long = "stop", value_name = "STR")]
    pub stop: Vec<String>,
}

impl SamplingArgs {
    /// The sampler settings; a missing `--seed` becomes a random one. Validated.
    pub fn params(&self) -> anyhow::Result<SamplingParams> {
        let params = SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repetition_penalty: self.repeat_penalty,
            penalty_last_n: self.repeat_last_n,
            seed: self
                .seed
                .unwrap_or_else(|| RandomState::new().hash_one(std::time::Instant::now())),
            max_tokens: self.max_tokens,
            stop_strings: self.stop.clone(),
            ..SamplingParams::default()
        };
        params.validate()?;
        Ok(params)
    }
}
