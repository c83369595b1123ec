//! Q5_1: 32 weights as 5-bit quants `q` with an f16 scale and minimum, `x = d * q + m`.

use super::nibbles::{QK, dot_unsigned_signed, pack_nibbles_high_bits, unpack_nibbles_high_bits};
use crate::kquant_search::min_max;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q5_1` (ggml/src/ggml-common.h; its `dm` half2 is the two fields `d`, `m`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Minimum (added after scaling).
    pub m: f16,
    /// Fifth bits: bit `j` of this little-endian `u32` belongs to element `j`.
    pub qh: [u8; 4],
    /// Low four bits: element `j` low nibble, element `j + 16` high nibble.
    pub qs: [u8; QK / 2],
}

const _: () = assert!(size_of::<BlockQ5_1>() == 24);
const _: () = assert!(<BlockQ5_1 as QuantBlock>::BLOCK_BYTES == GgmlType::Q5_1.block_bytes());
const _: () = assert!(<BlockQ5_1 as QuantBlock>::BLOCK_ELEMS == GgmlType::Q5_1.block_elems());

impl QuantBlock for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const BLOCK_ELEMS: usize = QK;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q5_1`: `y = q * d + m` (two roundings, no fma).
    fn dequantize_block(&self, out: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (y, q) in out[..QK]
            .iter_mut()
            .zip(unpack_nibbles_high_bits(&self.qs, self.qh))
        {
            *y = f32::from(q) * d + m;
        }
    }

    /// ggml-quants.c `quantize_row_q5_1_ref`: `d = (max - min) / 31`,
    /// `q = (uint8_t)((x - min) / d + 0.5f)` (no clamp upstream; only the low five bits are kept).
    fn quantize_block(src: &[f32]) -> Self {
        let src = &src[..QK];
        let (min, max) = min_max(src);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q: [u8; QK] = std::array::from_fn(|j| ((src[j] - min) * id + 0.5) as u8);
        let (qs, qh) = pack_nibbles_high_bits(&q);
        BlockQ5_1 {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qh,
            qs,
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q5_1_q8_1_impl` with `vdr = QI5_1` (one whole block), f32
    /// branch (no `FAST_FP16_AVAILABLE`): `sumi * (d5 * d8) + m5 * s8`.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi = dot_unsigned_signed(&unpack_nibbles_high_bits(&w.qs, w.qh), &a.qs);
            let d5d8 = w.d.to_f32() * a.d.to_f32();
            let m5s8 = w.m.to_f32() * a.s.to_f32();
            acc + (sumi as f32 * d5d8 + m5s8)
        })
    }
}
