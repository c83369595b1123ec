//! Q8_1: the activation format integer weights are dotted with: 32 signed 8-bit quants, an f16
//! scale `d` and `s = d * sum(q)`, which lets offset formats (Q4_0's `q - 8`, Q4_1's `+ m`)
//! fold their offset into one multiply per block.

use super::q8_0::{dot_i8, quantize_absmax_q8};
use crate::{GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

const QK8_1: usize = 32;

/// ggml's `block_q8_1` (ggml/src/ggml-common.h; its `ds` half2 is the two fields `d`, `s`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_1 {
    /// Scale.
    pub d: f16,
    /// `d * sum(qs)`, rounded to f16.
    pub s: f16,
    /// Quants.
    pub qs: [i8; QK8_1],
}

const _: () = assert!(size_of::<BlockQ8_1>() == 36);
const _: () = assert!(<BlockQ8_1 as QuantBlock>::BLOCK_BYTES == GgmlType::Q8_1.block_bytes());
const _: () = assert!(<BlockQ8_1 as QuantBlock>::BLOCK_ELEMS == GgmlType::Q8_1.block_elems());

impl QuantBlock for BlockQ8_1 {
    const TYPE: GgmlType = GgmlType::Q8_1;
    const BLOCK_ELEMS: usize = QK8_1;
    type Activation = BlockQ8_1;

    /// `y = q * d`. ggml has no `dequantize_row_q8_1`; this is the value the quants stand for (as
    /// ggml-cuda's q8_1 consumers read it), the same maths as `dequantize_row_q8_0`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, &q) in out[..QK8_1].iter_mut().zip(&self.qs) {
            *y = f32::from(q) * d;
        }
    }

    /// ggml-quants.c `quantize_row_q8_1_ref`: `d = amax / 127`, `q = roundf(x / d)`, and
    /// `s = (float)sum(q) * d` with the f32 `d` (not the f16-rounded one).
    fn quantize_block(src: &[f32]) -> Self {
        let (d, qs) = quantize_absmax_q8(src);
        let sum: i32 = qs.iter().map(|&q| i32::from(q)).sum();
        BlockQ8_1 {
            d: f16::from_f32(d),
            s: f16::from_f32(sum as f32 * d),
            qs,
        }
    }

    /// Q8_1 dotted with Q8_1: `(d_w * d_a) * sumi`, the form of ggml-cuda's
    /// `vec_dot_q8_0_q8_1_impl`. The `s` fields are not used: both sides are plain `d * q`.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi = dot_i8(&w.qs, &a.qs);
            acc + w.d.to_f32() * a.d.to_f32() * sumi as f32
        })
    }
}
