//! Quantise → dequantise error and dot-product error for every type, in the manner of llama.cpp's
//! tests/test-quantize-fns.cpp, plus property tests of `vec_dot_row` and of the row API's checks.

use proptest::prelude::*;
use quant_formats::{
    GgmlType, QuantError, QuantizedActivation, dequantize_row, quantize_row, vec_dot_row,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// test-quantize-fns.cpp: `MAX_QUANTIZATION_TOTAL_ERROR{,_2BITS,_3BITS}`.
fn max_quantization_error(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::Q2_K => 0.0075,
        GgmlType::Q3_K => 0.0040,
        _ => 0.002,
    }
}

/// test-quantize-fns.cpp: `MAX_DOT_PRODUCT_ERROR{,_LOWBIT}` (of our types only Q2_K is low-bit).
fn max_dot_product_error(ty: GgmlType) -> f32 {
    match ty {
        GgmlType::Q2_K => 0.04,
        _ => 0.02,
    }
}

/// test-quantize-fns.cpp `generate_data`: `0.1 + amplitude * cosf(i + offset)`, summed in double.
fn generate_data(offset: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.1 + f64::from(2.0 * (i as f32 + offset).cos())) as f32)
        .collect()
}

/// test-quantize-fns.cpp `array_rmse`: `sqrtf(sum of squared differences) / n` (its definition).
fn array_rmse(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x - y).powi(2))
        .sum();
    (sum.sqrt() as f32) / a.len() as f32
}

/// test-quantize-fns.cpp `dot_product`: f32 products summed in f64.
fn reference_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x * y))
        .sum::<f64>() as f32
}

fn quantize_dequantize(ty: GgmlType, x: &[f32]) -> Vec<f32> {
    let bytes = quantize_row(ty, x).unwrap_or_else(|e| panic!("{ty}: {e}"));
    assert_eq!(
        bytes.len() as u64,
        ty.bytes_for(x.len() as u64).unwrap(),
        "{ty}: byte count"
    );
    let mut out = vec![f32::NAN; x.len()];
    dequantize_row(ty, &bytes, &mut out).unwrap_or_else(|e| panic!("{ty}: {e}"));
    out
}

/// test-quantize-fns.cpp `test_vec_dot_q` on 32 * 128 elements: total quantisation error and
/// dot-product error within its bounds, for every type.
#[test]
fn errors_within_llama_cpp_test_quantize_fns_bounds() {
    const TEST_SIZE: usize = 32 * 128;
    let data = generate_data(0.0, TEST_SIZE);
    let data2 = generate_data(1.0, TEST_SIZE);
    let mut failures = Vec::new();
    for ty in GgmlType::ALL {
        let total_error = array_rmse(&data, &quantize_dequantize(ty, &data));
        if total_error.is_nan() || total_error >= max_quantization_error(ty) {
            failures.push(format!("{ty}: quantization error {total_error}"));
        }

        let weights = quantize_row(ty, &data).unwrap();
        let act = QuantizedActivation::for_weight(ty, &data2).unwrap();
        let dot = vec_dot_row(ty, &weights, &act).unwrap();
        let dot_error = (dot - reference_dot(&data, &data2)).abs() / TEST_SIZE as f32;
        if dot_error.is_nan() || dot_error >= max_dot_product_error(ty) {
            failures.push(format!("{ty}: dot product error {dot_error}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Loose per-type bound on `rms(x - dequantize(quantize(x))) / rms(amax of x's block)` for data
/// uniform in [-a, a]: about 2x the uniform-quantiser error `step / sqrt(12)` at each bit width
/// (Q4_0: step = amax / 8 gives 0.036; Q8_0: amax / 127 gives 0.0023; Q2_K: 4 levels give about
/// 0.15), so a wrong scale or bit layout fails and quantisation noise does not.
fn max_error_per_block_amax(ty: GgmlType) -> f64 {
    match ty {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 1e-3,
        GgmlType::BF16 => 8e-3,
        GgmlType::Q8_0 | GgmlType::Q8_1 | GgmlType::Q8_K => 0.005,
        GgmlType::Q6_K => 0.02,
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5_K => 0.035,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4_K | GgmlType::IQ4_NL | GgmlType::IQ4_XS => {
            0.07
        }
        GgmlType::Q3_K => 0.13,
        GgmlType::Q2_K => 0.3,
    }
}

/// `n` values: each 32-element stretch uniform in [-a, a] with `a` between
/// `10^log10_amplitude.start` and `10^log10_amplitude.end`.
fn random_row(rng: &mut ChaCha8Rng, n: usize, log10_amplitude: Range<f32>) -> Vec<f32> {
    let mut x = Vec::with_capacity(n);
    while x.len() < n {
        let amplitude = 10f32.powf(rng.random_range(log10_amplitude.clone()));
        x.extend((0..32.min(n - x.len())).map(|_| amplitude * rng.random_range(-1.0f32..1.0)));
    }
    x
}

/// Activation and weight magnitudes for the dot-product properties: from 0.03, so that Q8_1's
/// f16 `d` and `s` stay normal numbers and round with relative error 2^-11 (subnormal f16 loses
/// relative precision; that is the format, not the maths under test).
const DOT_AMPLITUDES: Range<f32> = -1.5..1.5;

/// The bound justified on `vec_dot_matches_dot_of_dequantized_values`.
fn dot_tolerance(w: &[f32], a: &[f32]) -> f64 {
    let abs_max = |v: &[f32]| v.iter().fold(0.0f64, |m, &x| m.max(f64::from(x.abs())));
    let offset_term: f64 = w
        .chunks(32)
        .zip(a.chunks(32))
        .map(|(wg, ag)| abs_max(wg) * ag.iter().map(|&y| f64::from(y)).sum::<f64>().abs())
        .sum();
    let a_abs_sum: f64 = a.iter().map(|&y| f64::from(y.abs())).sum();
    2f64.powi(-10) * 1.01 * offset_term + 2f64.powi(-16) * abs_max(w) * a_abs_sum
}

fn any_type() -> impl Strategy<Value = GgmlType> {
    prop::sample::select(GgmlType::ALL.to_vec())
}

fn ragged_block_count() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![1usize, 3, 7, 13])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn quantize_dequantize_round_trips_on_ragged_rows(
        ty in any_type(), blocks in ragged_block_count(), seed in any::<u64>()
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = random_row(&mut rng, blocks * ty.block_elems(), -3.0..1.0);
        let y = quantize_dequantize(ty, &x);
        let err: f64 = x.iter().zip(&y).map(|(&a, &b)| f64::from(a - b).powi(2)).sum();
        let block_amax = |b: &[f32]| f64::from(b.iter().fold(0.0f32, |m, v| m.max(v.abs())));
        let norm: f64 =
            x.chunks_exact(ty.block_elems()).map(|b| b.len() as f64 * block_amax(b).powi(2)).sum();
        let relative = (err / norm).sqrt();
        prop_assert!(y.iter().all(|v| v.is_finite()), "{ty}: non-finite output");
        prop_assert!(relative <= max_error_per_block_amax(ty), "{ty}: relative error {relative}");
    }

    /// `vec_dot_row` equals the f64 dot of the dequantised weights and dequantised activations up
    /// to rounding. The one difference that is not f32 rounding: Q4_0/Q5_0/Q4_1/Q5_1 apply their
    /// offset (`-8 q8`, `-16 q8`, `+m`) through Q8_1's `s = f16(d_f32 * sum(q8))` instead of
    /// `d_f16 * sum(q8)`, which differ by at most 2^-11 (f16 rounding of `s`) + 2^-11 (`d_f32` vs
    /// `d_f16`) of `|sum of the block's a|`, times the offset magnitude (8|d4|, 16|d5|, |m|); for
    /// quantised data that is exactly the block's max |w| (the extreme value maps to q = 0). So
    /// per 32-element group g: 2^-10 (1 + 1%) max_g|w| |sum_g a|; and 2^-16 max|w| sum|a| covers
    /// the f32 roundings of the per-block sums (each ~2^-24 relative, at most 104 blocks here).
    /// A 0.1% error in the offset term (8 -> 7.99) exceeds this.
    #[test]
    fn vec_dot_matches_dot_of_dequantized_values(
        ty in any_type(), blocks in ragged_block_count(), seed in any::<u64>()
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = blocks * ty.block_elems();
        let w_f32 = random_row(&mut rng, n, DOT_AMPLITUDES);
        let a_f32 = random_row(&mut rng, n, DOT_AMPLITUDES);
        let weights = quantize_row(ty, &w_f32).unwrap();
        let act = QuantizedActivation::for_weight(ty, &a_f32).unwrap();

        let mut w = vec![0.0f32; n];
        dequantize_row(ty, &weights, &mut w).unwrap();
        let a = act.dequantize().unwrap();
        let exact: f64 = w.iter().zip(&a).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        let tolerance = dot_tolerance(&w, &a);

        let dot = f64::from(vec_dot_row(ty, &weights, &act).unwrap());
        prop_assert!(
            (dot - exact).abs() <= tolerance,
            "{ty}: vec_dot {dot} vs dequantized dot {exact} (tolerance {tolerance})"
        );
    }

    /// The same answer from a misaligned copy of the weight bytes (as from an mmap).
    #[test]
    fn vec_dot_reads_misaligned_weights(ty in any_type(), seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = 3 * ty.block_elems();
        let w_f32 = random_row(&mut rng, n, DOT_AMPLITUDES);
        let a_f32 = random_row(&mut rng, n, DOT_AMPLITUDES);
        let weights = quantize_row(ty, &w_f32).unwrap();
        let act = QuantizedActivation::for_weight(ty, &a_f32).unwrap();
        let mut shifted = vec![0u8; weights.len() + 1];
        shifted[1..].copy_from_slice(&weights);
        prop_assert_eq!(
            vec_dot_row(ty, &shifted[1..], &act).unwrap().to_bits(),
            vec_dot_row(ty, &weights, &act).unwrap().to_bits()
        );
    }
}

#[test]
fn partial_blocks_and_length_mismatches_are_typed_errors() {
    for ty in GgmlType::ALL {
        let (elems, bytes) = (ty.block_elems(), ty.block_bytes());
        let row = generate_data(0.0, 2 * elems);
        let q = quantize_row(ty, &row).unwrap();

        let err = dequantize_row(ty, &q[..q.len() - 1], &mut vec![0.0; 2 * elems]).unwrap_err();
        assert_eq!(
            err,
            QuantError::PartialBlockBytes {
                ty,
                bytes: 2 * bytes - 1,
                block: bytes
            }
        );

        let err = dequantize_row(ty, &q, &mut vec![0.0; 2 * elems + 1]).unwrap_err();
        assert_eq!(
            err,
            QuantError::LengthMismatch {
                ty,
                expected: 2 * elems,
                got: 2 * elems + 1
            }
        );

        let act = QuantizedActivation::for_weight(ty, &row[..elems]).unwrap();
        let err = vec_dot_row(ty, &q, &act).unwrap_err();
        assert_eq!(
            err,
            QuantError::LengthMismatch {
                ty,
                expected: 2 * elems,
                got: elems
            }
        );

        if elems > 1 {
            let err = quantize_row(ty, &row[..elems + 1]).unwrap_err();
            assert_eq!(
                err,
                QuantError::PartialBlock {
                    ty,
                    elements: elems + 1,
                    block: elems
                }
            );
        }
    }
}

#[test]
fn activation_of_the_wrong_format_is_rejected() {
    let row = generate_data(0.0, 256);
    let weights = quantize_row(GgmlType::Q4_0, &row).unwrap();
    let f32_act = QuantizedActivation::for_weight(GgmlType::F32, &row).unwrap();
    assert_eq!(
        vec_dot_row(GgmlType::Q4_0, &weights, &f32_act).unwrap_err(),
        QuantError::ActivationMismatch {
            weight: GgmlType::Q4_0,
            expected: GgmlType::Q8_1,
            got: GgmlType::F32
        }
    );
    assert_eq!(
        QuantizedActivation::for_weight(GgmlType::Q4_0, &row)
            .unwrap()
            .ty(),
        GgmlType::Q8_1
    );
    assert_eq!(
        QuantizedActivation::for_weight(GgmlType::BF16, &row)
            .unwrap()
            .ty(),
        GgmlType::F32
    );
}
