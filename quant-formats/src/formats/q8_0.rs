//! Q8_0: 32 weights as signed 8-bit quants with one f16 scale, `x = d * q`.

use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

const QK8_0: usize = 32;

/// ggml's `block_q8_0` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f16,
    /// Quants.
    pub qs: [i8; QK8_0],
}

const _: () = assert!(size_of::<BlockQ8_0>() == 34);
const _: () = assert!(<BlockQ8_0 as QuantBlock>::BLOCK_BYTES == GgmlType::Q8_0.block_bytes());
const _: () = assert!(<BlockQ8_0 as QuantBlock>::BLOCK_ELEMS == GgmlType::Q8_0.block_elems());

/// `d = amax / 127` and the quants `roundf(x / d)` of one 32-element block, as
/// ggml-quants.c `quantize_row_q8_0_ref` and `quantize_row_q8_1_ref` compute them.
pub(crate) fn quantize_absmax_q8(src: &[f32]) -> (f32, [i8; 32]) {
    let src = &src[..32];
    let amax = src.iter().fold(
        0.0f32,
        |amax, &v| if amax > v.abs() { amax } else { v.abs() },
    );
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    // `f32::round` rounds half away from zero, like C `roundf`.
    (d, std::array::from_fn(|j| (src[j] * id).round() as i8))
}

/// Integer dot product of two signed 8-bit quant blocks (the dp4a sum `sumi`).
pub(crate) fn dot_i8(a: &[i8; 32], b: &[i8; 32]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

impl QuantBlock for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const BLOCK_ELEMS: usize = QK8_0;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q8_0`: `y = q * d`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, &q) in out[..QK8_0].iter_mut().zip(&self.qs) {
            *y = f32::from(q) * d;
        }
    }

    /// ggml-quants.c `quantize_row_q8_0_ref`.
    fn quantize_block(src: &[f32]) -> Self {
        let (d, qs) = quantize_absmax_q8(src);
        BlockQ8_0 {
            d: f16::from_f32(d),
            qs,
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q8_0_q8_1_impl<float, QI8_0>` (one whole block):
    /// `(d8_0 * d8_1) * sumi`.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi = dot_i8(&w.qs, &a.qs);
            acc + w.d.to_f32() * a.d.to_f32() * sumi as f32
        })
    }
}
