//! Q8_0 weights × Q8_1 activations, as ggml-cuda's `vec_dot_q8_0_q8_1`
//! (ggml/src/ggml-cuda/vecdotq.cuh): `d_w * d_x * sum(dp4a(w, x))` over `vdr` words.
//!
//! `block_q8_0 = { d: f16, qs: [i8; 32] }` is 34 bytes, so `qs` is only 2-byte aligned: each
//! word is read as two `u16` halves (ggml's `get_int_b2`). Activation words are 4-byte aligned.

use crate::builder::{Addr, KernelBuilder, Reg, Round, Space, Ty};
use crate::kernels::gemv::format::{GemvFormat, WeightSource, int_b2_in};
use quant_formats::GgmlType;

pub struct Q8_0;

/// Offset of `qs` in `block_q8_0` / `block_q8_1`.
const W_QS: i64 = 2;
const X_QS: i64 = 4;

impl GemvFormat for Q8_0 {
    fn ty(&self) -> GgmlType {
        GgmlType::Q8_0
    }

    fn qi(&self) -> u32 {
        8
    }

    fn vdr(&self) -> u32 {
        2
    }

    /// Four rows per block: the fastest geometry over M = 1 and 8 at the Llama-3-8B shapes
    /// (docs/gemv-tuning.md).
    fn default_geometry(&self) -> (u8, u8) {
        (4, 4)
    }

    fn stages_weights(&self) -> bool {
        true
    }

    fn emit_vec_dot(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        x_blocks: &[Reg],
        iqs: Reg,
    ) -> Vec<Reg> {
        let vdr = self.vdr() as i64;
        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let w_space = src.space(Space::GlobalNc);
        let w_d16 = b.ld(w_space, Ty::B16, Addr::reg(w_block));
        let w_words = b.add_offset(w_block, word_offset);
        let w: Vec<Reg> = (0..vdr)
            .map(|i| int_b2_in(b, w_space, Addr::reg_off(w_words, W_QS + 4 * i)))
            .collect();
        let w_d = b.cvt(Ty::F32, Ty::F16, None, w_d16);

        x_blocks
            .iter()
            .map(|&x_block| {
                let ds = b.ld(Space::GlobalNc, Ty::B32, Addr::reg(x_block));
                let x_words = b.add_offset(x_block, word_offset);
                let mut sumi = crate::builder::Operand::Int(0);
                for (i, &wi) in w.iter().enumerate() {
                    let u = b.ld(
                        Space::GlobalNc,
                        Ty::B32,
                        Addr::reg_off(x_words, X_QS + 4 * i as i64),
                    );
                    sumi = b.dp4a(wi, u, sumi).into();
                }
                let (x_d16, _x_s16) = b.unpack_b16x2(ds);
                let x_d = b.cvt(Ty::F32, Ty::F16, None, x_d16);
                let sumf = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sumi);
                let dd = b.mul(Ty::F32, w_d, x_d);
                b.mul(Ty::F32, dd, sumf)
            })
            .collect()
    }
}
