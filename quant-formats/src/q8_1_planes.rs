//! The GPU activation layout of Q8_1 ("Q8_1 planes"): the same blocks as `block_q8_1`, split
//! into two planes so every quant run is 16-byte aligned for vector loads.
//!
//! For `n` blocks in order (activations `[m, k]` row-major give `n = m * k / 32`, block
//! `c * k / 32 + i` covering elements `32 i .. 32 i + 32` of column `c`):
//! - bytes `0 .. 32 n`: the quants `qs` of every block, in block order (so column `c`'s quants
//!   start at byte `c * k`, element `e` at `c * k + e`);
//! - bytes `32 n .. 36 n`: the `{ d, s }` f16 pairs of every block, in block order.
//!
//! The total size equals `n` `block_q8_1`s (36 bytes each).

use crate::BlockQ8_1;
use half::f16;

/// Bytes of the quant plane of `blocks` Q8_1 blocks.
pub const fn q8_1_quant_plane_bytes(blocks: usize) -> usize {
    blocks * 32
}

/// `blocks` in the planar layout.
pub fn q8_1_to_planes(blocks: &[BlockQ8_1]) -> Vec<u8> {
    let mut out = Vec::with_capacity(blocks.len() * 36);
    for block in blocks {
        out.extend(block.qs.iter().map(|&q| q as u8));
    }
    for block in blocks {
        out.extend_from_slice(&block.d.to_bits().to_le_bytes());
        out.extend_from_slice(&block.s.to_bits().to_le_bytes());
    }
    out
}

/// The blocks of a planar buffer; `None` unless `bytes.len()` is a multiple of 36.
pub fn q8_1_from_planes(bytes: &[u8]) -> Option<Vec<BlockQ8_1>> {
    if !bytes.len().is_multiple_of(36) {
        return None;
    }
    let n = bytes.len() / 36;
    let (quants, scales) = bytes.split_at(q8_1_quant_plane_bytes(n));
    Some(
        quants
            .chunks_exact(32)
            .zip(scales.chunks_exact(4))
            .map(|(qs, ds)| {
                let half = |b: &[u8]| f16::from_bits(u16::from_le_bytes([b[0], b[1]]));
                BlockQ8_1 {
                    d: half(&ds[0..2]),
                    s: half(&ds[2..4]),
                    qs: std::array::from_fn(|i| qs[i] as i8),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QuantBlock;

    fn blocks(n: usize) -> Vec<BlockQ8_1> {
        let x: Vec<f32> = (0..32 * n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.13)
            .collect();
        x.chunks_exact(32).map(BlockQ8_1::quantize_block).collect()
    }

    #[test]
    fn planes_hold_quants_then_scale_pairs_in_block_order() {
        let b = blocks(3);
        let p = q8_1_to_planes(&b);
        assert_eq!(p.len(), 3 * 36);
        assert_eq!(p[32 + 5] as i8, b[1].qs[5]);
        let ds1 = &p[96 + 4..96 + 8];
        assert_eq!(u16::from_le_bytes([ds1[0], ds1[1]]), b[1].d.to_bits());
        assert_eq!(u16::from_le_bytes([ds1[2], ds1[3]]), b[1].s.to_bits());
    }

    #[test]
    fn planes_round_trip_and_reject_ragged_lengths() {
        let b = blocks(7);
        assert_eq!(q8_1_from_planes(&q8_1_to_planes(&b)), Some(b));
        assert_eq!(q8_1_from_planes(&[0; 35]), None);
    }
}
