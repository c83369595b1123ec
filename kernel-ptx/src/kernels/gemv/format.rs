//! The per-format part of the gemv kernel: how one thread dots its slice of a weight block with
//! the matching Q8_1 activation blocks. Adding a weight format is one file implementing this
//! trait plus one line in `format_for`.

use crate::builder::{KernelBuilder, Reg};
use quant_formats::GgmlType;

/// A weight format the gemv kernel can stream (ggml-cuda's `ggml_cuda_type_traits` + `vec_dot_*_q8_1`).
pub trait GemvFormat: Sync {
    /// The GGUF block type of the weights.
    fn ty(&self) -> GgmlType;

    /// QI: 32-bit words of quants per weight block (ggml's `QI*`, e.g. `QI8_0 = 8`).
    fn qi(&self) -> u32;

    /// VDR ("vec dot ratio"): words a thread consumes per block visit (ggml's `VDR_*_MMVQ`).
    /// `qi / vdr` threads share one block; it must be a power of two.
    fn vdr(&self) -> u32;

    /// Default `(warps, rows per block)`, the same for every M so results are batch-invariant.
    fn default_geometry(&self) -> (u8, u8) {
        (4, 1)
    }

    /// Emits the partial dot product of words `iqs .. iqs + vdr` of the weight block at
    /// `w_block` (global u64 address) with each column's activations. `x_blocks[j]` is the
    /// address of column j's first Q8_1 block covering this weight block (`qk / 32` of them).
    /// Weights are loaded once and reused for every column. Returns one f32 per column.
    fn emit_vec_dot(
        &self,
        b: &mut KernelBuilder,
        w_block: Reg,
        x_blocks: &[Reg],
        iqs: Reg,
    ) -> Vec<Reg>;
}

/// The gemv implementation for `ty`, if one exists.
pub fn format_for(ty: GgmlType) -> Option<&'static dyn GemvFormat> {
    match ty {
        GgmlType::Q8_0 => Some(&super::q8_0::Q8_0),
        _ => None,
    }
}
