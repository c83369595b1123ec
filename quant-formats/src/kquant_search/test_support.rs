//! Checks shared by the k-quant and IQ4 format tests, after llama.cpp's
//! tests/test-quantize-fns.cpp.

use crate::{BlockQ8_1, QuantBlock};

/// test-quantize-fns `test_size`: 32 * 128 elements.
pub const TEST_SIZE: usize = 32 * 128;

/// test-quantize-fns `generate_data`: `0.1 + amplitude * cosf(i + offset)`.
pub fn generate_data(offset: f32, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (0.1f64 + f64::from(amplitude * (i as f32 + offset).cos())) as f32)
        .collect()
}

pub fn quantize<B: QuantBlock>(x: &[f32]) -> Vec<B> {
    x.chunks_exact(B::BLOCK_ELEMS)
        .map(B::quantize_block)
        .collect()
}

pub fn dequantize<B: QuantBlock>(blocks: &[B]) -> Vec<f32> {
    let mut out = vec![0.0; blocks.len() * B::BLOCK_ELEMS];
    for (b, y) in blocks.iter().zip(out.chunks_exact_mut(B::BLOCK_ELEMS)) {
        b.dequantize_block(y);
    }
    out
}

/// test-quantize-fns `total_quantization_error`: `sqrt(sum((x - deq(q(x)))²)) / n` (its
/// `array_rmse`, which divides by `n` outside the root).
pub fn total_quantization_error<B: QuantBlock>(x: &[f32]) -> f32 {
    let y = dequantize(&quantize::<B>(x));
    let sum: f64 = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| f64::from(a - b) * f64::from(a - b))
        .sum();
    sum.sqrt() as f32 / x.len() as f32
}

/// Checks `B::vec_dot` on test-quantize-fns data two ways:
/// 1. against llama.cpp's bound `|vec_dot - dot(x, y)| / n < max_dot_error` on the float data;
/// 2. against the f64 dot of the dequantised weights and dequantised Q8_1 activations. Both
///    sides then hold the same represented values, so they differ only by f32 rounding: each
///    path through `vec_dot` has at most ~600 f32 roundings for 4096 elements (products
///    `d8 * (sumi * sc)`, per-call sums, scale products, the running total), giving a relative
///    bound of 600 * 2^-24 ≈ 3.6e-5 of `sum |w_i * a_i|`; we allow 1e-4 of it.
pub fn check_vec_dot<B: QuantBlock<Activation = BlockQ8_1>>(max_dot_error: f32) {
    let x = generate_data(0.0, TEST_SIZE, 2.0);
    let y = generate_data(1.0, TEST_SIZE, 2.0);
    let w = quantize::<B>(&x);
    let a = quantize::<BlockQ8_1>(&y);
    let got = B::vec_dot(&w, &a);

    let float_dot: f64 = x.iter().zip(&y).map(|(&p, &q)| f64::from(p * q)).sum();
    let err = (f64::from(got) - float_dot).abs() as f32 / TEST_SIZE as f32;
    assert!(err < max_dot_error, "{}: dot error {err}", B::TYPE);

    assert_near_dequantised_dot(got, &w, &a);
}

/// `got` (a `vec_dot` of `weights` and `act`) against the f64 dot of their dequantised values:
/// within 1e-4 of `sum |w_i * a_i|` (see [`check_vec_dot`]).
pub fn assert_near_dequantised_dot<W: QuantBlock, A: QuantBlock>(
    got: f32,
    weights: &[W],
    act: &[A],
) {
    let (wd, ad) = (dequantize(weights), dequantize(act));
    let exact: f64 = wd
        .iter()
        .zip(&ad)
        .map(|(&p, &q)| f64::from(p) * f64::from(q))
        .sum();
    let magnitude: f64 = wd
        .iter()
        .zip(&ad)
        .map(|(&p, &q)| f64::from((p * q).abs()))
        .sum();
    let diff = (f64::from(got) - exact).abs();
    assert!(
        diff <= 1e-4 * magnitude,
        "{}: vec_dot {got} vs dequantised dot {exact} (diff {diff}, magnitude {magnitude})",
        W::TYPE
    );
}

/// Q8_1 activations with arbitrary quants and scales (not the output of a quantiser), so
/// `vec_dot` is checked on every activation value, including -128 and 127.
pub fn arbitrary_q8_1(n_blocks: usize, seed: u64) -> Vec<BlockQ8_1> {
    use half::f16;
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n_blocks)
        .map(|_| BlockQ8_1 {
            d: f16::from_f32(rng.random_range(0.001f32..0.05)),
            s: f16::ZERO,
            qs: std::array::from_fn(|_| rng.random::<i8>()),
        })
        .collect()
}

/// `B::vec_dot` against the f64 dot of dequantised values for arbitrary weight bytes and
/// arbitrary activations (same 1e-4 relative bound as [`check_vec_dot`]).
pub fn check_vec_dot_arbitrary<B: QuantBlock<Activation = BlockQ8_1>>(weights: &[B], seed: u64) {
    let n_act = weights.len() * B::BLOCK_ELEMS / 32;
    let a = arbitrary_q8_1(n_act, seed);
    let got = B::vec_dot(weights, &a);
    assert_near_dequantised_dot(got, weights, &a);
}
