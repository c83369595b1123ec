//! F32, F16 and BF16 weights × f32 activations (no quantisation, no dp4a). A kernel block is
//! one 16-byte chunk of a row (4 f32 or 8 f16/bf16 values), read with one 16-byte
//! non-coherent load that skips L1 (weights are streamed once); consecutive threads read
//! consecutive chunks. The chunk's partial dot is `w0 * x0` then an fma per element, in
//! element order. Rows must be 16-byte multiples, so K is a multiple of the chunk.

use crate::builder::{Addr, KernelBuilder, Reg, Space, Ty};
use crate::kernels::gemv::format::{ActBlock, Activations, GemvFormat, WeightSource};
use quant_formats::GgmlType;

/// A float weight format: its element type and how many fit a 16-byte chunk.
pub struct Float {
    ty: GgmlType,
}

pub const F32: Float = Float { ty: GgmlType::F32 };
pub const F16: Float = Float { ty: GgmlType::F16 };
pub const BF16: Float = Float { ty: GgmlType::BF16 };

const CHUNK_BYTES: u32 = 16;

impl Float {
    /// The chunk's weights as f32, in element order.
    fn weights(&self, b: &mut KernelBuilder, src: WeightSource, w_block: Reg) -> Vec<Reg> {
        let space = src.space(Space::GlobalNcNoAllocate);
        let words = b.ld_vec(space, Ty::B32, 4, Addr::reg(w_block));
        match self.ty {
            GgmlType::F32 => words.into_iter().map(|w| b.mov(Ty::F32, w)).collect(),
            GgmlType::F16 => words
                .into_iter()
                .flat_map(|w| {
                    let (lo, hi) = b.unpack_b16x2(w);
                    [
                        b.cvt(Ty::F32, Ty::F16, None, lo),
                        b.cvt(Ty::F32, Ty::F16, None, hi),
                    ]
                })
                .collect(),
            // bf16 → f32 is exact: the 16 bits become the top half of the f32.
            _ => words
                .into_iter()
                .flat_map(|w| {
                    let lo = b.shl(Ty::B32, w, 16u32);
                    let hi = b.and(Ty::B32, w, 0xFFFF_0000u32);
                    [b.mov(Ty::F32, lo), b.mov(Ty::F32, hi)]
                })
                .collect(),
        }
    }
}

impl GemvFormat for Float {
    fn ty(&self) -> GgmlType {
        self.ty
    }

    fn qk(&self) -> u32 {
        CHUNK_BYTES / self.ty.block_bytes() as u32
    }

    fn activations(&self) -> Activations {
        Activations::F32
    }

    /// One row per block: at M = 8 (16 accumulators and 8 columns of activations when fused)
    /// two rows would exceed the register budget.
    fn default_geometry(&self) -> (u8, u8) {
        (4, 1)
    }

    /// Each column holds 8 f32 activations per visit: the fused M = 6 variant (12
    /// accumulators) spilled when unrolled, M = 5 when not (`tests/ptxas_selected.rs`).
    fn max_unrolled_accumulators(&self) -> usize {
        10
    }

    /// One thread per chunk: QI = VDR = the chunk's 4 words.
    fn qi(&self) -> u32 {
        4
    }

    fn vdr(&self) -> u32 {
        4
    }

    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        _iqs: Reg,
    ) -> Vec<Reg> {
        self.weights(b, src, w_block)
    }

    /// The chunk's `qk` f32 activations, 16 bytes per load.
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, _iqs: Reg) -> Vec<Reg> {
        (0..self.qk() as i64 / 4)
            .flat_map(|i| b.ld_vec(Space::GlobalNc, Ty::F32, 4, Addr::reg_off(x.quants, 16 * i)))
            .collect()
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let mut acc = b.mul(Ty::F32, w[0], x[0]);
        for (&wi, &xi) in w.iter().zip(x).skip(1) {
            acc = b.fma(Ty::F32, wi, xi, acc);
        }
        acc
    }
}
