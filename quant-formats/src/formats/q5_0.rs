//! Q5_0: 32 weights as 5-bit quants `q` with one f16 scale, `x = d * (q - 16)`.

use super::nibbles::{QK, dot_unsigned_signed, pack_nibbles_high_bits, unpack_nibbles_high_bits};
use crate::kquant_search::max_by_magnitude;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q5_0` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Fifth bits: bit `j` of this little-endian `u32` belongs to element `j`.
    pub qh: [u8; 4],
    /// Low four bits: element `j` low nibble, element `j + 16` high nibble.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ5_0>() == 22);
const _: () = assert!(<BlockQ5_0 as QuantBlock>::BLOCK_BYTES == GgmlType::Q5_0.block_bytes());
const _: () = assert!(<BlockQ5_0 as QuantBlock>::BLOCK_ELEMS == GgmlType::Q5_0.block_elems());

impl QuantBlock for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const BLOCK_ELEMS: usize = QK;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q5_0`: `y = (q - 16) * d`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, q) in out[..QK]
            .iter_mut()
            .zip(unpack_nibbles_high_bits(&self.qs, self.qh))
        {
            *y = (i32::from(q) - 16) as f32 * d;
        }
    }

    /// ggml-quants.c `quantize_row_q5_0_ref`: `d = max / -16` (max = the value of largest
    /// magnitude, first one wins), `q = min(31, (int8_t)(x / d + 16.5f))`.
    fn quantize_block(src: &[f32]) -> Self {
        let src = &src[..QK];
        let (max, _) = max_by_magnitude(src);
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q: [u8; QK] = std::array::from_fn(|j| ((src[j] * id + 16.5) as i8).min(31) as u8);
        let (qs, qh) = pack_nibbles_high_bits(&q);
        BlockQ5_0 {
            d: f16::from_f32(d),
            qh,
            qs,
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q5_0_q8_1_impl` with `vdr = QI5_0` (one whole block):
    /// `d5 * (sumi * d8 - 16 * s8)`, where `s8 = d8 * sum(q8)` supplies the `-16`.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi = dot_unsigned_signed(&unpack_nibbles_high_bits(&w.qs, w.qh), &a.qs);
            let (d8, s8) = (a.d.to_f32(), a.s.to_f32());
            acc + w.d.to_f32() * (sumi as f32 * d8 - 16.0 * s8)
        })
    }
}
