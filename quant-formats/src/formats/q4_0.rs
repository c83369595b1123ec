//! Q4_0: 32 weights as 4-bit quants `q` with one f16 scale, `x = d * (q - 8)`.

use super::nibbles::{QK, dot_unsigned_signed, pack_nibbles, unpack_nibbles};
use crate::kquant_search::max_by_magnitude;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q4_0` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// Nibbles: element `j` low, element `j + 16` high.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ4_0>() == 18);
const _: () = assert!(<BlockQ4_0 as QuantBlock>::BLOCK_BYTES == GgmlType::Q4_0.block_bytes());
const _: () = assert!(<BlockQ4_0 as QuantBlock>::BLOCK_ELEMS == GgmlType::Q4_0.block_elems());

impl QuantBlock for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const BLOCK_ELEMS: usize = QK;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q4_0`: `y = (q - 8) * d`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, q) in out[..QK].iter_mut().zip(unpack_nibbles(&self.qs)) {
            *y = (i32::from(q) - 8) as f32 * d;
        }
    }

    /// ggml-quants.c `quantize_row_q4_0_ref`: `d = max / -8` (max = the value of largest
    /// magnitude, first one wins), `q = min(15, (int8_t)(x / d + 8.5f))`.
    fn quantize_block(src: &[f32]) -> Self {
        let src = &src[..QK];
        let (max, _) = max_by_magnitude(src);
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q: [u8; QK] = std::array::from_fn(|j| ((src[j] * id + 8.5) as i8).min(15) as u8);
        BlockQ4_0 {
            d: f16::from_f32(d),
            qs: pack_nibbles(&q),
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q4_0_q8_1_impl` with `vdr = QI4_0` (one whole block, as
    /// MMQ calls it): `d4 * (sumi * d8 - 8 * s8)`, where `s8 = d8 * sum(q8)` supplies the `-8`.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi = dot_unsigned_signed(&unpack_nibbles(&w.qs), &a.qs);
            let (d8, s8) = (a.d.to_f32(), a.s.to_f32());
            acc + w.d.to_f32() * (sumi as f32 * d8 - 8.0 * s8)
        })
    }
}
