//! F32, F16 and BF16 as one-element blocks: the weight is the value, the activation is f32.

use crate::{GgmlType, QuantBlock};
use half::{bf16, f16};

/// Element-order f32 dot product of float weights (converted exactly to f32) with f32 activations.
fn dot_in_element_order<W: Copy>(weights: &[W], act: &[f32], to_f32: impl Fn(W) -> f32) -> f32 {
    weights
        .iter()
        .zip(act)
        .fold(0.0f32, |acc, (&w, &a)| acc + to_f32(w) * a)
}

impl QuantBlock for f32 {
    const TYPE: GgmlType = GgmlType::F32;
    const BLOCK_ELEMS: usize = 1;
    type Activation = f32;

    fn dequantize_block(&self, out: &mut [f32]) {
        out[0] = *self;
    }

    fn quantize_block(src: &[f32]) -> Self {
        src[0]
    }

    fn vec_dot(weights: &[Self], act: &[f32]) -> f32 {
        dot_in_element_order(weights, act, |w| w)
    }
}

impl QuantBlock for f16 {
    const TYPE: GgmlType = GgmlType::F16;
    const BLOCK_ELEMS: usize = 1;
    type Activation = f32;

    /// Exact widening (ggml `GGML_FP16_TO_FP32`, numpy `astype(np.float32)`).
    fn dequantize_block(&self, out: &mut [f32]) {
        out[0] = self.to_f32();
    }

    /// Round to nearest even (ggml `GGML_FP32_TO_FP16`, numpy `astype(np.float16)`).
    fn quantize_block(src: &[f32]) -> Self {
        f16::from_f32(src[0])
    }

    fn vec_dot(weights: &[Self], act: &[f32]) -> f32 {
        dot_in_element_order(weights, act, f16::to_f32)
    }
}

impl QuantBlock for bf16 {
    const TYPE: GgmlType = GgmlType::BF16;
    const BLOCK_ELEMS: usize = 1;
    type Activation = f32;

    /// Exact widening: the bits shifted into the top half of an f32.
    fn dequantize_block(&self, out: &mut [f32]) {
        out[0] = f32::from_bits(u32::from(self.to_bits()) << 16);
    }

    /// ggml-impl.h `ggml_compute_fp32_to_bf16`: NaN becomes a quiet NaN keeping the sign and top
    /// payload bits; everything else rounds to nearest even.
    fn quantize_block(src: &[f32]) -> Self {
        let u = src[0].to_bits();
        let bits = if (u & 0x7fff_ffff) > 0x7f80_0000 {
            (u >> 16) | 64
        } else {
            (u + (0x7fff + ((u >> 16) & 1))) >> 16
        };
        bf16::from_bits(bits as u16)
    }

    fn vec_dot(weights: &[Self], act: &[f32]) -> f32 {
        dot_in_element_order(weights, act, bf16::to_f32)
    }
}

const _: () = assert!(<f32 as QuantBlock>::BLOCK_BYTES == GgmlType::F32.block_bytes());
const _: () = assert!(<f16 as QuantBlock>::BLOCK_BYTES == GgmlType::F16.block_bytes());
const _: () = assert!(<bf16 as QuantBlock>::BLOCK_BYTES == GgmlType::BF16.block_bytes());
