//! Prompt → tokens: prefill, then sample and decode until a stop condition, streaming the
//! detokenised text through a callback. Shared by the CLI (`generate`, `chat`) and the server.
//!
//! A [`Generator`] keeps one sequence's KV cache between calls and remembers which tokens it
//! holds, so a follow-up prompt that extends the previous one (the next chat turn) only prefills
//! what is new.

use crate::forward::{CpuSession, ForwardError};
use crate::sampling::{
    FinishReason, Sampler, SamplingError, SamplingParams, StopChecker, StopStringMatcher,
};
use crate::tokenizer::Tokenizer;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Prompt tokens run per forward call: bounds the logits buffer of a long prompt to
/// `[PREFILL_CHUNK, vocab]` (32 MiB at a 128k vocabulary).
const PREFILL_CHUNK: usize = 64;

/// A sequence a forward backend runs: the KV cache of one generation and its position.
pub trait ForwardSession {
    /// Runs `tokens` after the positions held; returns their logits, row-major `[tokens, vocab]`.
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError>;
    /// Forgets positions from `pos` on.
    fn truncate(&mut self, pos: usize);
}

impl ForwardSession for CpuSession<'_> {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        CpuSession::prefill(self, tokens)
    }

    fn truncate(&mut self, pos: usize) {
        CpuSession::truncate(self, pos);
    }
}

/// Why a generation could not run.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the prompt is empty")]
    EmptyPrompt,
    #[error("the prompt has {prompt} tokens; the context holds {capacity}")]
    PromptTooLong { prompt: usize, capacity: usize },
    #[error(transparent)]
    Forward(#[from] ForwardError),
    #[error(transparent)]
    Sampling(#[from] SamplingError),
}

/// The outcome of one [`Generator::generate`] call.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Sampled tokens, a final stop token included.
    pub tokens: Vec<u32>,
    /// The text passed to `on_text`, all of it.
    pub text: String,
    /// `None` when `on_text` asked to stop.
    pub finish_reason: Option<FinishReason>,
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV entries were reused from the previous call.
    pub reused_tokens: usize,
    /// Time spent prefilling the prompt tokens that were not reused.
    pub prompt_time: Duration,
    /// Time from the first sampled token to the end.
    pub generation_time: Duration,
}

/// One sequence: a forward session, the tokens whose keys and values it holds, and the tokenizer
/// that turns sampled tokens into text.
pub struct Generator<'t, S> {
    session: S,
    capacity: usize,
    /// Tokens in the KV cache, in order: `cached.len()` is the session's position.
    cached: Vec<u32>,
    tokenizer: &'t Tokenizer,
}

impl<'t, S: ForwardSession> Generator<'t, S> {
    /// `session` must be new (position 0) with room for `capacity` positions.
    pub fn new(session: S, capacity: usize, tokenizer: &'t Tokenizer) -> Self {
        Generator {
            session,
            capacity,
            cached: Vec::new(),
            tokenizer,
        }
    }

    /// Positions the session can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Tokens whose keys and values the session holds.
    pub fn cached_tokens(&self) -> &[u32] {
        &self.cached
    }

    /// Runs `prompt`, then samples with `params` until a stop token (`params.stop_token_ids`, the
    /// tokenizer's EOS / EOT), a stop string, `params.max_tokens`, or a full context. Text is
    /// streamed to `on_text` as it completes (stop tokens print nothing; text never shows part
    /// of a stop string); `on_text` returns `Break` to end the generation early.
    ///
    /// The prompt's longest common prefix with the cached tokens is reused, except its last
    /// token, which always runs to give the first logits.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        params: &SamplingParams,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, GenerateError> {
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt);
        }
        if prompt.len() > self.capacity {
            return Err(GenerateError::PromptTooLong {
                prompt: prompt.len(),
                capacity: self.capacity,
            });
        }
        let mut sampler = Sampler::new(params.clone())?;
        let start = Instant::now();
        let (mut logits, reused_tokens) = self.prefill_prompt(prompt)?;
        let prompt_time = start.elapsed();

        for &token in prompt {
            sampler.accept(token);
        }
        let mut out = Generation {
            tokens: Vec::new(),
            text: String::new(),
            finish_reason: Some(FinishReason::Length),
            prompt_tokens: prompt.len(),
            reused_tokens,
            prompt_time,
            generation_time: Duration::ZERO,
        };
        if params.max_tokens == 0 {
            return Ok(out);
        }
        let start = Instant::now();
        let mut stop = StopChecker::new(params);
        let mut stop_strings = StopStringMatcher::new(&params.stop_strings);
        let mut detokenizer = self.tokenizer.detokenizer(false);
        let mut emit = |text: &str, out: &mut Generation| {
            if text.is_empty() {
                return ControlFlow::Continue(());
            }
            out.text.push_str(text);
            on_text(text)
        };
        let mut stopped_by_string = false;
        loop {
            let token = sampler.sample(&logits)?.token;
            out.tokens.push(token);
            let mut finish = stop.on_token(token);
            let is_stop_token = params.stop_token_ids.contains(&token)
                || self.tokenizer.is_end_of_generation(token);
            if is_stop_token {
                finish = Some(FinishReason::Stop);
            } else {
                let step = stop_strings.push(&detokenizer.push(token));
                if emit(&step.emit, &mut out).is_break() {
                    out.finish_reason = None;
                    break;
                }
                if step.stopped {
                    stopped_by_string = true;
                    finish = Some(FinishReason::Stop);
                }
            }
            if let Some(reason) = finish {
                out.finish_reason = Some(reason);
                break;
            }
            if self.cached.len() >= self.capacity {
                out.finish_reason = Some(FinishReason::Length);
                break;
            }
            logits = self.session.prefill(&[token])?;
            self.cached.push(token);
        }
        if out.finish_reason.is_some() && !stopped_by_string {
            let step = stop_strings.push(&detokenizer.finish());
            let tail = if step.stopped {
                step.emit
            } else {
                step.emit + &stop_strings.finish()
            };
            if emit(&tail, &mut out).is_break() {
                out.finish_reason = None;
            }
        }
        out.generation_time = start.elapsed();
        Ok(out)
    }

    /// Brings the session to hold exactly `prompt`, reusing the cached prefix; returns the logits
    /// of the prompt's last token (`[vocab]`) and how many prompt tokens were reused.
    fn prefill_prompt(&mut self, prompt: &[u32]) -> Result<(Vec<f32>, usize), ForwardError> {
        let shared = self
            .cached
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(prompt.len() - 1);
        self.session.truncate(shared);
        self.cached.truncate(shared);
        let mut last = Vec::new();
        for chunk in prompt[shared..].chunks(PREFILL_CHUNK) {
            let logits = self.session.prefill(chunk)?;
            let vocab = logits.len() / chunk.len();
            last = logits[logits.len() - vocab..].to_vec();
            self.cached.extend_from_slice(chunk);
        }
        Ok((last, shared))
    }
}
