//! Stop tokens, token budget and stop strings across streamed pieces.

use model_llama::sampling::{
    FinishReason, SamplingParams, StopChecker, StopStringMatcher, TextStep,
};

fn step(emit: &str, stopped: bool) -> TextStep {
    TextStep {
        emit: emit.to_owned(),
        stopped,
    }
}

#[test]
fn stop_token_and_length() {
    let params = SamplingParams {
        max_tokens: 3,
        stop_token_ids: vec![2],
        ..SamplingParams::default()
    };
    let mut c = StopChecker::new(&params);
    assert_eq!(c.on_token(5), None);
    assert_eq!(c.on_token(2), Some(FinishReason::Stop));
    let mut c = StopChecker::new(&params);
    assert_eq!(
        (c.on_token(5), c.on_token(6), c.on_token(7)),
        (None, None, Some(FinishReason::Length))
    );
    assert_eq!(c.generated(), 3);
}

#[test]
fn stop_string_split_across_pieces() {
    let mut m = StopStringMatcher::new(&["o w".to_owned()]);
    assert_eq!(m.push("Hel"), step("Hel", false));
    // "lo" ends with "o", a prefix of the stop string: held back.
    assert_eq!(m.push("lo"), step("l", false));
    assert_eq!(m.push(" wor"), step("", true));
    assert_eq!(m.push("ld"), step("", true));
}

#[test]
fn held_back_text_is_released_when_it_diverges_or_ends() {
    let mut m = StopStringMatcher::new(&["END".to_owned(), "\n\n".to_owned()]);
    assert_eq!(m.push("abcE"), step("abc", false));
    assert_eq!(m.push("Nx"), step("ENx", false));
    assert_eq!(m.push("z\n"), step("z", false));
    assert_eq!(m.finish(), "\n");
}

#[test]
fn earliest_stop_string_wins_and_multibyte_text_is_safe() {
    let mut m = StopStringMatcher::new(&["bb".to_owned(), "é!".to_owned()]);
    assert_eq!(m.push("aé"), step("a", false));
    assert_eq!(m.push("!bb"), step("", true));
    let mut m = StopStringMatcher::new(&["é!".to_owned(), "bb".to_owned()]);
    assert_eq!(m.push("xbbé!"), step("x", true));
    let mut m = StopStringMatcher::new(&["xyz".to_owned()]);
    assert_eq!(m.push("日本語x"), step("日本語", false));
    assert_eq!(m.push("y日"), step("xy日", false));
}
