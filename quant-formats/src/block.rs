//! The one trait every block format implements: constants plus the CPU reference maths.

use crate::GgmlType;

/// A GGML block format: a `#[repr(C)]` struct whose bytes are exactly ggml's block layout.
///
/// The float types are blocks of one element (`f32`, `half::f16`, `half::bf16`).
pub trait QuantBlock: bytemuck::Pod + Send + Sync {
    /// The GGML type this block stores.
    const TYPE: GgmlType;
    /// Elements per block (ggml's `QK*`).
    const BLOCK_ELEMS: usize;
    /// Bytes per block; equals `size_of::<Self>()` (checked at compile time by each format).
    const BLOCK_BYTES: usize = std::mem::size_of::<Self>();

    /// The activation format `vec_dot` consumes (Q8_1 for integer weights, f32 for float weights).
    type Activation: QuantBlock;

    /// Dequantises one block into `out[..Self::BLOCK_ELEMS]`, with ggml's operation order so the
    /// result is bit-identical to `dequantize_row_*` and gguf-py.
    fn dequantize_block(&self, out: &mut [f32]);

    /// Quantises `src[..Self::BLOCK_ELEMS]` with llama.cpp's `quantize_row_*_ref` algorithm.
    fn quantize_block(src: &[f32]) -> Self;

    /// Dot product of weight blocks with activation blocks covering the same elements
    /// (`act.len() * Activation::BLOCK_ELEMS == weights.len() * BLOCK_ELEMS`), computed the way the
    /// GPU kernels compute it (integer sums per sub-block, then scaled), so it is their oracle.
    fn vec_dot(weights: &[Self], act: &[Self::Activation]) -> f32;
}
