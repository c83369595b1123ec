//! Token sampling: logit processing (penalties, top-k, top-p, min-p, temperature), seeded
//! drawing, logprobs, and stop conditions (tokens, strings, max tokens).

mod params;
mod sampler;
mod stop;

pub use params::{SamplingError, SamplingParams};
pub use sampler::{SampledToken, Sampler, TokenLogprob};
pub use stop::{FinishReason, StopChecker, StopStringMatcher, TextStep};
