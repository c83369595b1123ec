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

use crate::{BlockQ8_1, GgmlType, QuantBlock, QuantError, activation_type};
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

/// The activation bytes a matrix-vector kernel for `weight` reads for `x` (`[m, k]` row-major,
/// `k` a multiple of 32 for integer formats): `x` as little-endian f32 where the format dots f32
/// activations, otherwise its Q8_1 blocks (`quantize_row_q8_1_ref`, 32 consecutive values each)
/// in the planar layout.
pub fn matvec_activation_bytes(weight: GgmlType, x: &[f32]) -> Result<Vec<u8>, QuantError> {
    match activation_type(weight)? {
        GgmlType::F32 => Ok(x.iter().flat_map(|v| v.to_le_bytes()).collect()),
        GgmlType::Q8_1 => {
            if !x.len().is_multiple_of(BlockQ8_1::BLOCK_ELEMS) {
                return Err(QuantError::PartialBlock {
                    ty: GgmlType::Q8_1,
                    elements: x.len(),
                    block: BlockQ8_1::BLOCK_ELEMS,
                });
            }
            let blocks: Vec<BlockQ8_1> = x
                .chunks_exact(BlockQ8_1::BLOCK_ELEMS)
                .map(BlockQ8_1::quantize_block)
                .collect();
            Ok(q8_1_to_planes(&blocks))
        }
        _ => Err(QuantError::UnsupportedType(weight.name())),
    }
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

/// Which plane of a planar Q8_1 buffer a byte lies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Q8_1Plane {
    Quants,
    Scales,
}

impl std::fmt::Display for Q8_1Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Q8_1Plane::Quants => "quant",
            Q8_1Plane::Scales => "{d, s}",
        })
    }
}

/// The first byte where two equally long planar buffers differ, located for a test message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Q8_1PlanesDifference {
    /// Index of the first differing byte.
    pub byte: usize,
    /// Block (in block order) and plane that byte belongs to.
    pub block: usize,
    pub plane: Q8_1Plane,
    /// That block's part of the plane (32 quant bytes or the 4 `{ d, s }` bytes) in each buffer.
    pub got: Vec<u8>,
    pub want: Vec<u8>,
    /// How many bytes differ in all.
    pub differing: usize,
}

/// `None` when `got == want`; otherwise where they first differ. Both must hold the same whole
/// number of blocks (`None` is never returned for buffers of different lengths: they differ at
/// the shorter one's end, reported against the longer one's layout).
pub fn q8_1_planes_first_difference(got: &[u8], want: &[u8]) -> Option<Q8_1PlanesDifference> {
    let len = got.len().max(want.len());
    let byte = (0..len).find(|&i| got.get(i) != want.get(i))?;
    let quant_bytes = q8_1_quant_plane_bytes(len / 36);
    let (block, plane, part) = if byte < quant_bytes {
        let block = byte / 32;
        (block, Q8_1Plane::Quants, 32 * block..32 * block + 32)
    } else {
        let block = (byte - quant_bytes) / 4;
        let start = quant_bytes + 4 * block;
        (block, Q8_1Plane::Scales, start..start + 4)
    };
    let slice = |b: &[u8]| b[part.start.min(b.len())..part.end.min(b.len())].to_vec();
    Some(Q8_1PlanesDifference {
        byte,
        block,
        plane,
        got: slice(got),
        want: slice(want),
        differing: (0..len).filter(|&i| got.get(i) != want.get(i)).count(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn matvec_activations_are_f32_bytes_or_q8_1_planes() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) / 7.0).collect();
        let f32_bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            matvec_activation_bytes(GgmlType::F16, &x).unwrap(),
            f32_bytes
        );
        let blocks: Vec<BlockQ8_1> = x.chunks(32).map(BlockQ8_1::quantize_block).collect();
        let planes = matvec_activation_bytes(GgmlType::Q4_K, &x).unwrap();
        assert_eq!(planes, q8_1_to_planes(&blocks));
        assert!(matches!(
            matvec_activation_bytes(GgmlType::Q4_K, &x[..40]),
            Err(QuantError::PartialBlock { elements: 40, .. })
        ));
    }

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
    fn first_difference_names_block_and_plane() {
        let want = q8_1_to_planes(&blocks(3));
        assert_eq!(q8_1_planes_first_difference(&want, &want), None);
        let mut got = want.clone();
        got[32 + 7] ^= 1;
        let d = q8_1_planes_first_difference(&got, &want).unwrap();
        assert_eq!(
            (d.byte, d.block, d.plane, d.differing),
            (39, 1, Q8_1Plane::Quants, 1)
        );
        assert_eq!((d.got.len(), d.want.len()), (32, 32));
        let mut got = want.clone();
        got[96 + 8 + 2] ^= 1;
        got[0] ^= 1;
        let d = q8_1_planes_first_difference(&got, &want).unwrap();
        assert_eq!((d.block, d.plane, d.differing), (0, Q8_1Plane::Quants, 2));
        let mut got = want.clone();
        got[96 + 8 + 2] ^= 1;
        let d = q8_1_planes_first_difference(&got, &want).unwrap();
        assert_eq!((d.block, d.plane), (2, Q8_1Plane::Scales));
        assert_eq!(d.got[2], d.want[2] ^ 1);
        assert!(q8_1_planes_first_difference(&want[..36], &want).is_some());
    }

    #[test]
    fn planes_round_trip_and_reject_ragged_lengths() {
        let b = blocks(7);
        assert_eq!(q8_1_from_planes(&q8_1_to_planes(&b)), Some(b));
        assert_eq!(q8_1_from_planes(&[0; 35]), None);
    }
}
