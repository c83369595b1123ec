//! The sampler: turns one row of logits into a token.
//!
//! Processing mirrors llama.cpp's default sampler chain (`src/llama-sampling.cpp`:
//! `llama_sampler_penalties_apply`, `_top_k_apply`, `_top_p_apply`, `_min_p_apply`,
//! `_temp_ext_apply`, `_dist_apply`), in that order.

use super::params::{SamplingError, SamplingParams};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::HashMap;

/// A token and its log-probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenLogprob {
    pub token: u32,
    pub logprob: f32,
}

/// The outcome of one sampling step.
#[derive(Clone, Debug, PartialEq)]
pub struct SampledToken {
    pub token: u32,
    /// With `logprobs` requested: the chosen token's log-probability under the *raw* model
    /// distribution (log-softmax of the unprocessed logits, before penalties, filters and
    /// temperature), as vLLM's default `raw_logprobs` mode and OpenAI report it.
    pub logprob: Option<f32>,
    /// The `n` most likely tokens under the same raw distribution, most likely first.
    pub top_logprobs: Vec<TokenLogprob>,
}

/// Draws tokens for one sequence. Owns the seeded random stream and the penalty history.
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha20Rng,
    /// Tokens seen so far (prompt and generated), for the penalties.
    history: Vec<u32>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Result<Self, SamplingError> {
        params.validate()?;
        let rng = ChaCha20Rng::seed_from_u64(params.seed);
        Ok(Sampler {
            params,
            rng,
            history: Vec::new(),
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Records a token for the penalties (feed the prompt tokens through this to penalise them
    /// too, as llama.cpp's server does). [`Sampler::sample`] records its own choice.
    pub fn accept(&mut self, token: u32) {
        self.history.push(token);
    }

    /// Chooses the next token from `logits` (`[vocab]`) and records it in the history.
    pub fn sample(&mut self, logits: &[f32]) -> Result<SampledToken, SamplingError> {
        let candidates = self.candidates(logits)?;
        let token = if candidates.len() == 1 {
            candidates[0].0
        } else {
            self.draw(&candidates)
        };
        let (logprob, top_logprobs) = match self.params.logprobs {
            Some(n) => {
                let logprobs = log_softmax(logits);
                let mut top: Vec<TokenLogprob> = logprobs
                    .iter()
                    .enumerate()
                    .filter(|(_, lp)| !lp.is_nan())
                    .map(|(i, &logprob)| TokenLogprob {
                        token: i as u32,
                        logprob,
                    })
                    .collect();
                keep_largest(&mut top, n, |t| (t.logprob, t.token));
                (Some(logprobs[token as usize]), top)
            }
            None => (None, Vec::new()),
        };
        self.accept(token);
        Ok(SampledToken {
            token,
            logprob,
            top_logprobs,
        })
    }

    /// The tokens that can be drawn and their processed logits (after penalties, top-k, top-p,
    /// min-p and temperature); sorted most likely first when any filter is on. Greedy
    /// (temperature 0) leaves one token.
    pub fn candidates(&self, logits: &[f32]) -> Result<Vec<(u32, f32)>, SamplingError> {
        let mut cands: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan() && **l != f32::NEG_INFINITY)
            .map(|(i, &l)| (i as u32, l))
            .collect();
        if cands.is_empty() {
            return Err(SamplingError::NoCandidates);
        }
        self.apply_penalties(&mut cands);
        let p = &self.params;
        if p.temperature == 0.0 {
            // First maximum wins, as llama.cpp's greedy sampler.
            let best = cands
                .iter()
                .fold(cands[0], |best, &c| if c.1 > best.1 { c } else { best });
            return Ok(vec![best]);
        }
        if p.top_k > 0 {
            keep_largest(&mut cands, p.top_k, |c| (c.1, c.0));
        } else if p.top_p < 1.0 || p.min_p > 0.0 {
            keep_largest(&mut cands, usize::MAX, |c| (c.1, c.0));
        }
        if p.top_p < 1.0 {
            let probs = softmax(&cands);
            let mut cumulative = 0.0;
            let keep = probs
                .iter()
                .position(|&prob| {
                    cumulative += prob;
                    cumulative >= f64::from(p.top_p)
                })
                .map_or(cands.len(), |i| i + 1);
            cands.truncate(keep);
        }
        if p.min_p > 0.0 {
            // p_i >= min_p * p_max  ⇔  logit_i >= logit_max + ln(min_p).
            let threshold = cands[0].1 + p.min_p.ln();
            let keep = cands.iter().take_while(|c| c.1 >= threshold).count().max(1);
            cands.truncate(keep);
        }
        for c in &mut cands {
            c.1 /= p.temperature;
        }
        Ok(cands)
    }

    /// llama.cpp's `llama_sampler_penalties_apply` over the last `penalty_last_n` tokens.
    fn apply_penalties(&self, cands: &mut [(u32, f32)]) {
        let p = &self.params;
        let neutral =
            p.repetition_penalty == 1.0 && p.frequency_penalty == 0.0 && p.presence_penalty == 0.0;
        if neutral || p.penalty_last_n == 0 || self.history.is_empty() {
            return;
        }
        let window = &self.history[self.history.len().saturating_sub(p.penalty_last_n)..];
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &t in window {
            *counts.entry(t).or_default() += 1;
        }
        for (token, logit) in cands.iter_mut() {
            let Some(&count) = counts.get(token) else {
                continue;
            };
            if *logit <= 0.0 {
                *logit *= p.repetition_penalty;
            } else {
                *logit /= p.repetition_penalty;
            }
            *logit -= count as f32 * p.frequency_penalty + p.presence_penalty;
        }
    }

    /// Draws from the softmax of the candidates' logits with the seeded stream.
    fn draw(&mut self, cands: &[(u32, f32)]) -> u32 {
        let probs = softmax(cands);
        let u: f64 = self.rng.random();
        let mut cumulative = 0.0;
        for (c, prob) in cands.iter().zip(&probs) {
            cumulative += prob;
            if u < cumulative {
                return c.0;
            }
        }
        // Rounding left the cumulative sum just under 1: the last candidate owns the remainder.
        cands[cands.len() - 1].0
    }
}

/// Probabilities of the candidates' logits, in f64 (max subtracted before exponentiation).
fn softmax(cands: &[(u32, f32)]) -> Vec<f64> {
    let max = cands
        .iter()
        .map(|c| f64::from(c.1))
        .fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = cands.iter().map(|c| (f64::from(c.1) - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// `log_softmax` of a full row of logits, in f64 then rounded to f32; NaN logits stay NaN.
fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits
        .iter()
        .filter(|l| !l.is_nan())
        .map(|&l| f64::from(l))
        .fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits
        .iter()
        .filter(|l| !l.is_nan())
        .map(|&l| (f64::from(l) - max).exp())
        .sum();
    let log_sum = max + sum.ln();
    logits
        .iter()
        .map(|&l| (f64::from(l) - log_sum) as f32)
        .collect()
}

/// Keeps the `n` items with the largest (value, token id) key, sorted: larger value first,
/// smaller id first on ties. Selects before sorting, so a small `n` over a large vocabulary is cheap.
fn keep_largest<T>(items: &mut Vec<T>, n: usize, key: impl Fn(&T) -> (f32, u32)) {
    let order = |a: &T, b: &T| {
        let (va, ia) = key(a);
        let (vb, ib) = key(b);
        vb.total_cmp(&va).then(ia.cmp(&ib))
    };
    if n == 0 {
        items.clear();
        return;
    }
    if n < items.len() {
        items.select_nth_unstable_by(n - 1, order);
        items.truncate(n);
    }
    items.sort_by(order);
}
