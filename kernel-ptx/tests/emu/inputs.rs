//! Seeded test inputs shared by the emulator tests: one xorshift64* stream, never zeros where a
//! test needs non-zero values, rows quantised with quant-formats, and gemv activations in the
//! layout the kernels read.

use quant_formats::{
    BlockQ8_1, GgmlType, QuantBlock, QuantizedActivation, matvec_activation_bytes, quantize_row,
};

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

/// Q8_1 blocks of `x` (`quantize_row_q8_1_ref`, 32 values each), in order.
pub fn q8_1_blocks(x: &[f32]) -> Vec<BlockQ8_1> {
    assert!(
        x.len().is_multiple_of(BlockQ8_1::BLOCK_ELEMS),
        "{} values: not whole Q8_1 blocks",
        x.len()
    );
    x.chunks_exact(BlockQ8_1::BLOCK_ELEMS)
        .map(BlockQ8_1::quantize_block)
        .collect()
}

/// The gemv activation of `x [m, k]` (one column per `k` values) for `format` weights: the
/// bytes the kernel reads (f32 `[m, k]`, or the Q8_1 blocks `[m, k / 32]` in the planar layout
/// of `q8_1_to_planes`) and the CPU oracle's view of each column.
pub fn gemv_activations(
    format: GgmlType,
    x: &[f32],
    k: usize,
) -> (Vec<u8>, Vec<QuantizedActivation>) {
    let acts: Vec<QuantizedActivation> = x
        .chunks(k)
        .map(|col| QuantizedActivation::for_weight(format, col).unwrap())
        .collect();
    let bytes = matvec_activation_bytes(format, x).unwrap();
    (bytes, acts)
}
