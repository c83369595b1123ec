//! Q4_1: 32 weights as 4-bit quants `q` with an f16 scale and minimum, `x = d * q + m`.

use super::nibbles::{QK, dot_unsigned_signed, pack_nibbles, unpack_nibbles};
use crate::kquant_search::min_max;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q4_1` (ggml/src/ggml-common.h; its `dm` half2 is the two fields `d`, `m`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f16,
    /// Minimum (added after scaling).
    pub m: f16,
    /// Nibbles: element `j` low, element `j + 16` high.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ4_1>() == 20);
const _: () = assert!(<BlockQ4_1 as QuantBlock>::BLOCK_BYTES == GgmlType::Q4_1.block_bytes());
const _: () = assert!(<BlockQ4_1 as QuantBlock>::BLOCK_ELEMS == GgmlType::Q4_1.block_elems());

impl QuantBlock for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const BLOCK_ELEMS: usize = QK;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q4_1`: `y = q * d + m` (two roundings, no fma).
    fn dequantize_block(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (y, q) in out[..QK].iter_mut().zip(unpack_nibbles(&self.qs)) {
            *y = f32::from(q) * d + m;
        }
    }

    /// ggml-quants.c `quantize_row_q4_1_ref`: `d = (max - min) / 15`,
    /// `q = min(15, (int8_t)((x - min) / d + 0.5f))`.
    fn quantize_block(src: &[f32]) -> Self {
        let src = &src[..QK];
        let (min, max) = min_max(src);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q: [u8; QK] =
            std::array::from_fn(|j| (((src[j] - min) * id + 0.5) as i8).min(15) as u8);
        BlockQ4_1 {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qs: pack_nibbles(&q),
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q4_1_q8_1_impl` with `vdr = QI4_1` (one whole block), f32
    /// branch (no `FAST_FP16_AVAILABLE`): `sumi * (d4 * d8) + m4 * s8`.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi = dot_unsigned_signed(&unpack_nibbles(&w.qs), &a.qs);
            let d4d8 = w.d.to_f32() * a.d.to_f32();
            let m4s8 = w.m.to_f32() * a.s.to_f32();
            acc + (sumi as f32 * d4d8 + m4s8)
        })
    }
}
