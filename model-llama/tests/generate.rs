//! `Generator` on a scripted forward: a fake session whose logits spell a fixed reply, with the
//! byte vocabulary of fixtures/models/tiny-code (token = byte, 256 BOS, 257 EOS).

use model_llama::files::GgufFile;
use model_llama::forward::ForwardError;
use model_llama::generate::{ForwardSession, GenerateError, Generator};
use model_llama::sampling::{FinishReason, SamplingParams};
use model_llama::tokenizer::Tokenizer;
use std::ops::ControlFlow;
use std::path::PathBuf;

const VOCAB: usize = 258;
const EOS: u32 = 257;

fn tokenizer() -> Tokenizer {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/models/tiny-code/tiny-code-Q8_0.gguf");
    Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap()
}

fn bytes(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

/// Logits that make the token after absolute position `p` be `reply[p + 1 - reply_from]`
/// (EOS past the end). Records every `prefill` call and checks the position bookkeeping.
struct ScriptedSession {
    reply: Vec<u32>,
    reply_from: usize,
    position: usize,
    calls: Vec<(usize, Vec<u32>)>,
}

impl ScriptedSession {
    fn new(reply: &str, reply_from: usize) -> Self {
        ScriptedSession {
            reply: bytes(reply),
            reply_from,
            position: 0,
            calls: Vec::new(),
        }
    }
}

impl ForwardSession for &mut ScriptedSession {
    fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>, ForwardError> {
        self.calls.push((self.position, tokens.to_vec()));
        let mut logits = vec![0.0; tokens.len() * VOCAB];
        for (i, row) in logits.chunks_mut(VOCAB).enumerate() {
            let next_index = (self.position + i + 1).checked_sub(self.reply_from);
            let next = next_index
                .and_then(|j| self.reply.get(j).copied())
                .unwrap_or(EOS);
            row[next as usize] = 10.0;
        }
        self.position += tokens.len();
        Ok(logits)
    }

    fn truncate(&mut self, pos: usize) {
        self.position = self.position.min(pos);
    }
}

fn greedy(max_tokens: usize) -> SamplingParams {
    SamplingParams {
        max_tokens,
        ..SamplingParams::greedy()
    }
}

const REPLY: &str = "def f():\n    return 'é🍣'\n";

#[test]
fn streams_the_reply_and_stops_at_eos_without_printing_it() {
    let tokenizer = tokenizer();
    let prompt = [256, 35, 32];
    let mut session = ScriptedSession::new(REPLY, prompt.len());
    let mut generator = Generator::new(&mut session, 64, &tokenizer);
    let mut pieces = Vec::new();
    let g = generator
        .generate(&prompt, &greedy(100), &mut |t| {
            pieces.push(t.to_owned());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(g.text, REPLY);
    assert_eq!(pieces.concat(), REPLY);
    assert!(pieces.iter().all(|p| !p.is_empty()));
    let mut expected = bytes(REPLY);
    expected.push(EOS);
    assert_eq!(g.tokens, expected);
    assert_eq!(g.finish_reason, Some(FinishReason::Stop));
    assert_eq!(g.prompt_tokens, 3);
    assert_eq!(g.reused_tokens, 0);
    // One prefill of the prompt, then one decode per token except the last (EOS).
    assert_eq!(session.calls.len(), 1 + REPLY.len());
    assert_eq!(session.calls[0], (0, prompt.to_vec()));
}

#[test]
fn a_stop_string_ends_the_text_before_it() {
    let tokenizer = tokenizer();
    let mut session = ScriptedSession::new(REPLY, 1);
    let mut generator = Generator::new(&mut session, 64, &tokenizer);
    let params = SamplingParams {
        stop_strings: vec!["():".into(), "return".into()],
        ..greedy(100)
    };
    let mut streamed = String::new();
    let g = generator
        .generate(&[256], &params, &mut |t| {
            streamed.push_str(t);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(g.text, "def f");
    assert_eq!(streamed, "def f");
    assert_eq!(g.tokens, bytes("def f():"));
    assert_eq!(g.finish_reason, Some(FinishReason::Stop));
}

#[test]
fn max_tokens_and_a_full_context_end_with_length() {
    let tokenizer = tokenizer();
    let mut session = ScriptedSession::new(REPLY, 1);
    let g = Generator::new(&mut session, 64, &tokenizer)
        .generate(&[256], &greedy(3), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(
        (g.text.as_str(), g.finish_reason),
        ("def", Some(FinishReason::Length))
    );

    // Capacity 3: the prompt fills 1, two decodes fill the rest, a third token needs no decode.
    let mut session = ScriptedSession::new(REPLY, 1);
    let g = Generator::new(&mut session, 3, &tokenizer)
        .generate(&[256], &greedy(100), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(
        (g.text.as_str(), g.finish_reason),
        ("def", Some(FinishReason::Length))
    );
    assert_eq!(session.position, 3);
}

#[test]
fn the_callback_can_cancel() {
    let tokenizer = tokenizer();
    let mut session = ScriptedSession::new(REPLY, 1);
    let mut generator = Generator::new(&mut session, 64, &tokenizer);
    let g = generator
        .generate(&[256], &greedy(100), &mut |_| ControlFlow::Break(()))
        .unwrap();
    assert_eq!(g.text, "d");
    assert_eq!(g.finish_reason, None);
    assert_eq!(g.tokens.len(), 1);
}

#[test]
fn a_follow_up_prompt_prefills_only_what_is_new() {
    let tokenizer = tokenizer();
    let mut session = ScriptedSession::new(REPLY, 3);
    let mut generator = Generator::new(&mut session, 64, &tokenizer);
    let first = [256, 35, 32];
    let g = generator
        .generate(&first, &greedy(4), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(g.text, "def ");
    // The cache holds the prompt and the three decoded tokens (the fourth was never run).
    assert_eq!(generator.cached_tokens(), [256, 35, 32, 100, 101, 102]);

    // Same start, a different continuation: the shared 5 tokens are kept.
    let second = [256, 35, 32, 100, 101, 33, 34];
    let g = generator
        .generate(&second, &greedy(1), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(g.reused_tokens, 5);
    assert_eq!(session.calls.last().unwrap(), &(5, vec![33, 34]));

    // A prompt the cache holds entirely still runs its last token for fresh logits.
    let mut generator = Generator::new(&mut session, 64, &tokenizer);
    generator
        .generate(&[256, 35], &greedy(1), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    let g = generator
        .generate(&[256, 35], &greedy(1), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(g.reused_tokens, 1);
}

#[test]
fn empty_and_too_long_prompts_are_errors() {
    let tokenizer = tokenizer();
    let mut session = ScriptedSession::new(REPLY, 1);
    let mut generator = Generator::new(&mut session, 4, &tokenizer);
    let mut ignore = |_: &str| ControlFlow::Continue(());
    assert!(matches!(
        generator.generate(&[], &greedy(1), &mut ignore),
        Err(GenerateError::EmptyPrompt)
    ));
    assert!(matches!(
        generator.generate(&[1, 2, 3, 4, 5], &greedy(1), &mut ignore),
        Err(GenerateError::PromptTooLong {
            prompt: 5,
            capacity: 4
        })
    ));
    let bad = SamplingParams {
        top_p: 0.0,
        ..greedy(1)
    };
    assert!(matches!(
        generator.generate(&[256], &bad, &mut ignore),
        Err(GenerateError::Sampling(_))
    ));
}
