//! Seeded test inputs shared by the emulator tests: one xorshift64* stream, never zeros where a
//! test needs non-zero values, and rows quantised with quant-formats.

use quant_formats::{GgmlType, quantize_row};

/// `len` seeded xorshift64* draws in `[0, 1)`.
fn unit_draws(seed: u64, len: usize) -> impl Iterator<Item = f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len).map(move |_| {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    })
}

/// Seeded values in `[-scale, scale)`.
pub fn uniform(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    unit_draws(seed, len)
        .map(|u| (2.0 * u - 1.0) * scale)
        .collect()
}

/// Seeded values in `±[0.05, 1)`: never zero, so an unwritten output cannot pass.
pub fn nonzero(seed: u64, len: usize) -> Vec<f32> {
    unit_draws(seed, len)
        .map(|u| {
            let v = 0.05 + 0.95 * (2.0 * u - 1.0).abs();
            if u < 0.5 { -v } else { v }
        })
        .collect()
}

/// An `[n, k]` weight matrix of `nonzero(seed)` values, each row quantised to `format` blocks.
pub fn quantized_matrix(format: GgmlType, seed: u64, n: usize, k: usize) -> Vec<u8> {
    nonzero(seed, n * k)
        .chunks(k)
        .flat_map(|row| quantize_row(format, row).unwrap())
        .collect()
}
