//! When generation ends: stop tokens, max tokens, and stop strings in streamed text.

use super::params::SamplingParams;

/// Why a generation ended, in OpenAI's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop token or stop string was produced.
    Stop,
    /// `max_tokens` were generated.
    Length,
}

/// Token-level stop conditions: stop token ids and the token budget.
#[derive(Clone, Debug)]
pub struct StopChecker {
    max_tokens: usize,
    stop_token_ids: Vec<u32>,
    generated: usize,
}

impl StopChecker {
    pub fn new(params: &SamplingParams) -> Self {
        StopChecker {
            max_tokens: params.max_tokens,
            stop_token_ids: params.stop_token_ids.clone(),
            generated: 0,
        }
    }

    /// Counts a generated token; says whether generation ends with it. A stop token ends it
    /// (and should not be shown as text); reaching `max_tokens` ends it after this token.
    pub fn on_token(&mut self, token: u32) -> Option<FinishReason> {
        self.generated += 1;
        if self.stop_token_ids.contains(&token) {
            Some(FinishReason::Stop)
        } else if self.generated >= self.max_tokens {
            Some(FinishReason::Length)
        } else {
            None
        }
    }

    /// Tokens counted so far.
    pub fn generated(&self) -> usize {
        self.generated
    }
}

/// What to show after a piece of text was pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextStep {
    /// Text that can be emitted now: it cannot be part of a stop string.
    pub emit: String,
    /// A stop string was found; `emit` ends right before it and nothing more follows.
    pub stopped: bool,
}

/// Finds stop strings in text that arrives piece by piece (one detokenised token at a time),
/// holding back any tail that could still grow into a stop string, so streamed output never
/// shows part of one.
#[derive(Clone, Debug)]
pub struct StopStringMatcher {
    stops: Vec<String>,
    /// Text received but not emitted yet: a possible start of a stop string.
    pending: String,
    stopped: bool,
}

impl StopStringMatcher {
    pub fn new(stops: &[String]) -> Self {
        let stops = stops.iter().filter(|s| !s.is_empty()).cloned().collect();
        StopStringMatcher {
            stops,
            pending: String::new(),
            stopped: false,
        }
    }

    /// Adds a piece of generated text. After a stop, further pieces are ignored.
    pub fn push(&mut self, piece: &str) -> TextStep {
        if self.stopped {
            return TextStep {
                emit: String::new(),
                stopped: true,
            };
        }
        self.pending.push_str(piece);
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min();
        if let Some(at) = earliest {
            self.stopped = true;
            let emit = self.pending[..at].to_owned();
            self.pending.clear();
            return TextStep {
                emit,
                stopped: true,
            };
        }
        let hold = self.held_back_len();
        let emit_len = self.pending.len() - hold;
        let emit: String = self.pending.drain(..emit_len).collect();
        TextStep {
            emit,
            stopped: false,
        }
    }

    /// Releases the held-back text at the end of generation (no stop string can complete now).
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of a stop string.
    fn held_back_len(&self) -> usize {
        let text = self.pending.as_str();
        text.char_indices()
            .map(|(i, _)| i)
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&text[i..])))
            .map_or(0, |i| text.len() - i)
    }
}
