//! Q8_0 weights × Q8_1 activations, as ggml-cuda's `vec_dot_q8_0_q8_1`
//! (ggml/src/ggml-cuda/vecdotq.cuh): `d_w * d_x * sum(dp4a(w, x))` over `vdr` words.
//!
//! `block_q8_0 = { d: f16, qs: [i8; 32] }` is 34 bytes, so `qs` is only 2-byte aligned: a
//! thread's words are read as aligned 32-bit words and funnel-shifted (`b2_words`; from a
//! staged tile, as two `u16` halves each, ggml's `get_int_b2`). Activation words come from the
//! Q8_1 quant plane, 16-byte aligned for a thread's four words.

use crate::builder::{Addr, KernelBuilder, Operand, Reg, Round, Space, Ty};
use crate::kernels::gemv::format::{ActBlock, GemvFormat, WeightSource, b2_words, ds_d, f16_in};
use quant_formats::GgmlType;

pub struct Q8_0;

/// Offset of `qs` in `block_q8_0`.
const W_QS: i64 = 2;
/// Words a thread reads per block: 4, two threads per block (ggml's `VDR_Q8_0_Q8_1_MMVQ` is 2).
const VDR: u32 = 4;

impl GemvFormat for Q8_0 {
    fn ty(&self) -> GgmlType {
        GgmlType::Q8_0
    }

    fn qi(&self) -> u32 {
        8
    }

    fn vdr(&self) -> u32 {
        VDR
    }

    /// Four warps: with four words per thread still the fastest warp count at M = 1 and close at
    /// M = 8 (docs/gemv-tuning.md v12); `select_matvec` picks the rows per M.
    fn default_geometry(&self) -> (u8, u8) {
        (4, 4)
    }

    fn stages_weights(&self) -> bool {
        true
    }

    /// `[d, words iqs .. iqs + VDR]` of `qs`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let w_space = src.space(Space::GlobalNc);
        let w_d = f16_in(b, w_space, Addr::reg(w_block));
        let w_words = b.add_offset(w_block, word_offset);
        let first = b.add(Ty::U64, w_words, W_QS as u64);
        let words = b2_words(b, src, first, VDR as usize);
        std::iter::once(w_d).chain(words).collect()
    }

    /// `[{d, s}, words iqs .. iqs + VDR]` of the Q8_1 block (`iqs` a multiple of `VDR`: one
    /// vector load).
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let ds = x.scale_words(b, None, 0, 1);
        let words = x.quant_words(b, Some(word_offset), 0, VDR as usize);
        ds.into_iter().chain(words).collect()
    }

    /// `d_w * d_x * sumi`.
    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let mut sumi = Operand::Int(0);
        for (&wi, &u) in w[1..].iter().zip(&x[1..]) {
            sumi = b.dp4a(wi, u, sumi).into();
        }
        let x_d = ds_d(b, x[0]);
        let sumf = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sumi);
        let dd = b.mul(Ty::F32, w[0], x_d);
        b.mul(Ty::F32, dd, sumf)
    }
}
