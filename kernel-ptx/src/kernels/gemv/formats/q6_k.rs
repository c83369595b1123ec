//! Q6_K × Q8_1, as ggml-cuda's `vec_dot_q6_K_q8_1` with `vec_dot_q6_K_q8_1_impl_mmvq`
//! (ggml/src/ggml-cuda/vecdotq.cuh). VDR 1, QI 32: a whole warp shares a block.
//!
//! `block_q6_K` (210 bytes, words read as `u16` pairs): `ql[128]` at 0, `qh[64]` at 128,
//! `scales[16]` (i8) at 192, `d` at 208. Thread `iqs` (0..32) takes word `iqs` of `ql` (low
//! nibbles: elements `128 * (iqs / 16) + 4 * (iqs % 16) + 0..4`, high nibbles the same + 64)
//! and word `8 * (iqs / 16) + iqs % 8` of `qh` shifted by `2 * ((iqs % 16) / 8)`. Nibble `i`
//! meets word `iqs % 8` of Q8_1 block `bq8_offset + 2i` and scale `scale_offset + 4i`:
//! `sumf += d8 * (dp4a(q - 32, u) * sc)`, result `d * sumf`. ggml's
//! `__vsubss4(q, 0x20202020)` never saturates (`0..=63` minus 32), so it is computed as
//! `dp4a(q, u) - dp4a(0x20202020, u)`, the same integer.

use crate::builder::{Addr, KernelBuilder, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, QK8_1, WeightSource, bits, dp4a0, ds_d, f16_in, int_b2_in, offset_addr,
    sum_terms, to_f32,
};
use quant_formats::GgmlType;

pub struct Q6K;
#[allow(non_upper_case_globals)]
pub const Q6_K: Q6K = Q6K;

const QH: i64 = 128;
const SCALES: i64 = 192;
const D: i64 = 208;
/// ggml's `QR6_K`.
const QR: u32 = 2;

impl GemvFormat for Q6K {
    fn ty(&self) -> GgmlType {
        GgmlType::Q6_K
    }

    fn qi(&self) -> u32 {
        32
    }

    fn vdr(&self) -> u32 {
        1
    }

    fn stages_weights(&self) -> bool {
        true
    }

    /// Four warps, four rows: with staging the fastest at M = 1 and, unstaged, at M = 8
    /// (docs/gemv-tuning.md, v4).
    fn default_geometry(&self) -> (u8, u8) {
        (4, 4)
    }

    /// `[quants, scale]` per nibble `i`, then `d`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let half = b.shr(Ty::U32, iqs, 4u32); // iqs / (QI6_K / 2)
        let in_half = b.and(Ty::U32, iqs, 15u32); // iqs % (QI6_K / 2)
        let eighth = b.shr(Ty::U32, in_half, 3u32); // (iqs % 16) / 8
        let quarter = b.shr(Ty::U32, in_half, 2u32); // (iqs % 16) / 4
        // scale_offset = 8 * half + quarter
        let half8 = b.shl(Ty::U32, half, 3u32);
        let scale_offset = b.add(Ty::U32, half8, quarter);
        let vh_shift = b.shl(Ty::U32, eighth, 1u32);
        let iqs8 = b.and(Ty::U32, iqs, 7u32);

        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let w_word = offset_addr(b, w_block, word_offset);
        let w_space = src.space(Space::GlobalNc);
        let vl = int_b2_in(b, w_space, Addr::reg(w_word));
        let qh_word = b.add(Ty::U32, half8, iqs8);
        let qh_off = b.shl(Ty::U32, qh_word, 2u32);
        let w_qh = offset_addr(b, w_block, qh_off);
        let qh = int_b2_in(b, w_space, Addr::reg_off(w_qh, QH));
        let vh = b.shr(Ty::U32, qh, vh_shift);
        let w_scales = offset_addr(b, w_block, scale_offset);
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                let sc = b.ld(
                    w_space,
                    Ty::S8,
                    Addr::reg_off(w_scales, SCALES + 4 * i64::from(i)),
                );
                let vil = bits(b, vl, 4 * i, 0x0F0F_0F0F);
                let vih = bits(b, vh, 4 * i, 0x0303_0303);
                let vih = b.shl(Ty::U32, vih, 4u32);
                [b.or(Ty::U32, vil, vih), sc]
            })
            .collect();
        out.push(f16_in(b, w_space, Addr::reg_off(w_block, D)));
        out
    }

    /// Word `iqs % 8` of Q8_1 blocks `bq8_offset` and `bq8_offset + 2`, then their `{ d, s }`.
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        // bq8_offset = 4 * (iqs / 16) + (iqs % 16) / 8
        let half = b.shr(Ty::U32, iqs, 4u32);
        let in_half = b.and(Ty::U32, iqs, 15u32);
        let eighth = b.shr(Ty::U32, in_half, 3u32);
        let half4 = b.shl(Ty::U32, half, 2u32);
        let bq8_offset = b.add(Ty::U32, half4, eighth);
        let iqs8 = b.and(Ty::U32, iqs, 7u32);
        let block_bytes = b.shl(Ty::U32, bq8_offset, QK8_1.trailing_zeros());
        let word = b.shl(Ty::U32, iqs8, 2u32);
        let q_off = b.add(Ty::U32, block_bytes, word);
        let mut out: Vec<Reg> = (0..i64::from(QR))
            .flat_map(|i| x.quant_words(b, Some(q_off), 2 * i64::from(QK8_1) * i, 1))
            .collect();
        for i in 0..i64::from(QR) {
            out.extend(x.scale_words(b, Some(bq8_offset), 2 * i, 1));
        }
        out
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let qr = QR as usize;
        let [sumf] = sum_terms(b, qr, |b, i| {
            let (u, d8) = (x[i], ds_d(b, x[qr + i]));
            let (q, sc) = (w[2 * i], w[2 * i + 1]);
            let dot = dp4a0(b, q, u);
            let bias = dp4a0(b, 0x2020_2020u32, u);
            let dot = b.sub(Ty::S32, dot, bias);
            let dot_sc = b.mul(Ty::S32, dot, sc);
            let f = to_f32(b, dot_sc);
            [b.mul(Ty::F32, d8, f)]
        });
        b.mul(Ty::F32, w[2 * qr], sumf)
    }
}
