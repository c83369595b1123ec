//! Sampler behaviour: greedy, masks, penalties (llama.cpp semantics), seeded distributions,
//! reproducibility and raw logprobs.

use model_llama::sampling::{Sampler, SamplingError, SamplingParams};

fn params(f: impl FnOnce(&mut SamplingParams)) -> SamplingParams {
    let mut p = SamplingParams::default();
    f(&mut p);
    p
}

/// Logits whose softmax is exactly `probs`.
fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

fn frequencies(sampler: &mut Sampler, logits: &[f32], draws: usize) -> Vec<f64> {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..draws {
        counts[sampler.sample(logits).unwrap().token as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / draws as f64).collect()
}

/// Asserts each frequency is within 5 standard deviations of its binomial expectation.
fn assert_matches_distribution(freq: &[f64], expected: &[f64], draws: usize) {
    for (i, (&f, &p)) in freq.iter().zip(expected).enumerate() {
        let sigma = (p * (1.0 - p) / draws as f64).sqrt().max(1e-9);
        assert!(
            (f - p).abs() <= 5.0 * sigma + 1e-12,
            "token {i}: frequency {f} vs probability {p} (σ {sigma})"
        );
    }
}

#[test]
fn greedy_takes_first_maximum() {
    let mut s = Sampler::new(SamplingParams::greedy()).unwrap();
    assert_eq!(s.sample(&[0.1, 3.0, -2.0, 3.0]).unwrap().token, 1);
    assert_eq!(
        s.sample(&[f32::NAN, -1.0, f32::NEG_INFINITY])
            .unwrap()
            .token,
        1
    );
    assert_eq!(s.sample(&[f32::NAN]), Err(SamplingError::NoCandidates));
}

#[test]
fn draws_follow_softmax_at_temperature_one_and_half() {
    let probs = [0.5, 0.3, 0.15, 0.05];
    let logits = logits_of(&probs);
    let draws = 40_000;
    let mut s = Sampler::new(params(|p| p.seed = 7)).unwrap();
    assert_matches_distribution(&frequencies(&mut s, &logits, draws), &probs, draws);

    // T = 0.5 squares the probabilities before normalising.
    let squared: Vec<f64> = probs.iter().map(|p| p * p).collect();
    let total: f64 = squared.iter().sum();
    let sharpened: Vec<f64> = squared.iter().map(|p| p / total).collect();
    let mut s = Sampler::new(params(|p| {
        p.seed = 8;
        p.temperature = 0.5;
    }))
    .unwrap();
    assert_matches_distribution(&frequencies(&mut s, &logits, draws), &sharpened, draws);
}

#[test]
fn top_k_keeps_the_k_best() {
    let logits: Vec<f32> = (0..10).map(|i| ((i * 7) % 10) as f32 * 0.3).collect();
    let s = Sampler::new(params(|p| p.top_k = 3)).unwrap();
    let kept: Vec<u32> = s.candidates(&logits).unwrap().iter().map(|c| c.0).collect();
    // logits: i*7 % 10 = [0, 7, 4, 1, 8, 5, 2, 9, 6, 3] → best are ids 7 (9), 4 (8), 1 (7).
    assert_eq!(kept, vec![7, 4, 1]);
    let mut s = Sampler::new(params(|p| {
        p.top_k = 3;
        p.seed = 3;
    }))
    .unwrap();
    let freq = frequencies(&mut s, &logits, 3000);
    for (i, f) in freq.iter().enumerate() {
        assert_eq!(*f > 0.0, [7, 4, 1].contains(&i), "token {i} frequency {f}");
    }
}

#[test]
fn top_p_keeps_the_smallest_prefix_reaching_p() {
    let logits = logits_of(&[0.5, 0.3, 0.15, 0.05]);
    let kept = |top_p: f32| -> Vec<u32> {
        let s = Sampler::new(params(|p| p.top_p = top_p)).unwrap();
        s.candidates(&logits).unwrap().iter().map(|c| c.0).collect()
    };
    assert_eq!(kept(0.4), vec![0]);
    assert_eq!(kept(0.79), vec![0, 1]);
    assert_eq!(kept(0.81), vec![0, 1, 2]);
    assert_eq!(kept(1.0).len(), 4);
}

#[test]
fn min_p_is_relative_to_the_best_token() {
    let logits = logits_of(&[0.5, 0.3, 0.15, 0.05]);
    let kept = |min_p: f32| -> Vec<u32> {
        let s = Sampler::new(params(|p| p.min_p = min_p)).unwrap();
        s.candidates(&logits).unwrap().iter().map(|c| c.0).collect()
    };
    // Thresholds 0.5 · min_p: 0.25 keeps {0.5, 0.3}; 0.095 keeps 0.15 too; 0.65 keeps only the best.
    assert_eq!(kept(0.5), vec![0, 1]);
    assert_eq!(kept(0.19), vec![0, 1, 2]);
    assert_eq!(kept(0.65), vec![0]);
}

#[test]
fn repetition_penalty_divides_positive_and_multiplies_negative_logits() {
    let mut s = Sampler::new(params(|p| {
        p.temperature = 0.0;
        p.repetition_penalty = 1.5;
    }))
    .unwrap();
    for t in [0, 1] {
        s.accept(t);
    }
    // Without the penalty token 0 wins; with it 2.0 / 1.5 = 1.33 < 1.9.
    assert_eq!(s.sample(&[2.0, -1.0, 1.9]).unwrap().token, 2);
    let s = Sampler::new(params(|p| p.repetition_penalty = 2.0)).unwrap();
    let mut s2 = s;
    s2.accept(0);
    s2.accept(1);
    let c = s2.candidates(&[2.0, -1.0, 1.9]).unwrap();
    let logit = |id: u32| c.iter().find(|x| x.0 == id).unwrap().1;
    assert_eq!((logit(0), logit(1), logit(2)), (1.0, -2.0, 1.9));
}

#[test]
fn frequency_and_presence_penalties_count_occurrences_in_the_window() {
    let mut s = Sampler::new(params(|p| {
        p.frequency_penalty = 0.25;
        p.presence_penalty = 0.5;
        p.penalty_last_n = 4;
    }))
    .unwrap();
    // Token 0 falls out of the 4-token window; token 1 appears 3 times, token 2 once.
    for t in [0, 1, 1, 2, 1] {
        s.accept(t);
    }
    let c = s.candidates(&[1.0, 1.0, 1.0, 1.0]).unwrap();
    let logit = |id: u32| c.iter().find(|x| x.0 == id).unwrap().1;
    assert_eq!(logit(0), 1.0);
    assert_eq!(logit(1), 1.0 - 3.0 * 0.25 - 0.5);
    assert_eq!(logit(2), 1.0 - 0.25 - 0.5);
    assert_eq!(logit(3), 1.0);
}

#[test]
fn sampled_tokens_are_penalised_next_time() {
    let mut s = Sampler::new(params(|p| {
        p.temperature = 0.0;
        p.presence_penalty = 10.0;
    }))
    .unwrap();
    let logits = [3.0, 2.0, 1.0];
    let tokens: Vec<u32> = (0..3).map(|_| s.sample(&logits).unwrap().token).collect();
    assert_eq!(tokens, vec![0, 1, 2]);
}

#[test]
fn same_seed_same_tokens_other_seed_other_tokens() {
    let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let run = |seed: u64| -> Vec<u32> {
        let mut s = Sampler::new(params(|p| p.seed = seed)).unwrap();
        (0..64).map(|_| s.sample(&logits).unwrap().token).collect()
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn logprobs_are_raw_log_softmax() {
    let logits = [2.0f32, 1.0, 0.5, -1.0];
    let mut s = Sampler::new(params(|p| {
        p.temperature = 0.0;
        p.repetition_penalty = 3.0;
        p.logprobs = Some(2);
    }))
    .unwrap();
    s.accept(0);
    let out = s.sample(&logits).unwrap();
    // The penalty moves the choice to token 1, but logprobs describe the unprocessed logits.
    assert_eq!(out.token, 1);
    let log_z = logits.iter().map(|&l| f64::from(l).exp()).sum::<f64>().ln();
    let expected = |i: usize| (f64::from(logits[i]) - log_z) as f32;
    assert!((out.logprob.unwrap() - expected(1)).abs() < 1e-6);
    assert_eq!(out.top_logprobs.len(), 2);
    assert_eq!(
        (out.top_logprobs[0].token, out.top_logprobs[1].token),
        (0, 1)
    );
    assert!((out.top_logprobs[0].logprob - expected(0)).abs() < 1e-6);
    let none = Sampler::new(SamplingParams::greedy())
        .unwrap()
        .sample(&logits)
        .unwrap();
    assert_eq!((none.logprob, none.top_logprobs.len()), (None, 0));
}

#[test]
fn invalid_params_are_rejected() {
    for p in [
        params(|p| p.temperature = -1.0),
        params(|p| p.top_p = 0.0),
        params(|p| p.top_p = 1.5),
        params(|p| p.min_p = 2.0),
        params(|p| p.repetition_penalty = 0.0),
        params(|p| p.stop_strings = vec![String::new()]),
    ] {
        assert!(matches!(
            Sampler::new(p),
            Err(SamplingError::InvalidParam { .. })
        ));
    }
}
