//! Q6_K × Q8_1, the maths of ggml-cuda's `vec_dot_q6_K_q8_1` with
//! `vec_dot_q6_K_q8_1_impl_mmvq` (ggml/src/ggml-cuda/vecdotq.cuh) over a wider thread slice:
//! QI 32, VDR `WORDS`, so `32 / WORDS` threads share a block and thread `iqs` (a multiple of
//! `WORDS`) takes words `iqs .. iqs + WORDS` (ggml's VDR is 1).
//!
//! `block_q6_K` (210 bytes, so only 2-byte aligned): `ql[128]` at 0, `qh[64]` at 128,
//! `scales[16]` (i8) at 192, `d` at 208. Word `w` of `ql` holds low nibbles for elements
//! `128 * (w / 16) + 4 * (w % 16) + 0..4` and high nibbles for the same + 64; its high bits are
//! word `8 * (w / 16) + w % 8` of `qh` shifted by `2 * ((w % 16) / 8)`. Nibble `i` of word `w`
//! meets word `w % 8` of Q8_1 block `4 * (w / 16) + (w % 16) / 8 + 2i` and scale
//! `8 * (w / 16) + (w % 16) / 4 + 4i`. A thread's `WORDS` (≤ 4) consecutive words share all of
//! these but the word index, so per nibble it sums `WORDS` dp4a exactly and then applies ggml's
//! `sumf += d8 * (sumi * sc)`; result `d * sumf`. ggml's `__vsubss4(q, 0x20202020)` never
//! saturates (`0..=63` minus 32), so it is computed as `dp4a(q, u) - dp4a(0x20202020, u)`.

use crate::builder::{Addr, KernelBuilder, Operand, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, QK8_1, WeightSource, b2_words, bits, ds_d, f16_in, offset_addr,
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
/// Words of `ql` (and of `qh`) one thread reads per block visit.
const WORDS: u32 = 4;

/// Where thread `iqs`'s words sit in the block's groups.
struct Lane {
    /// `iqs / 16`.
    half: Reg,
    /// `iqs % 16`.
    in_half: Reg,
    /// `(iqs % 16) / 8`.
    eighth: Reg,
    /// `iqs % 8`.
    iqs8: Reg,
}

fn lane(b: &mut KernelBuilder, iqs: Reg) -> Lane {
    let half = b.shr(Ty::U32, iqs, 4u32);
    let in_half = b.and(Ty::U32, iqs, 15u32);
    let eighth = b.shr(Ty::U32, in_half, 3u32);
    let iqs8 = b.and(Ty::U32, iqs, 7u32);
    Lane {
        half,
        in_half,
        eighth,
        iqs8,
    }
}

impl GemvFormat for Q6K {
    fn ty(&self) -> GgmlType {
        GgmlType::Q6_K
    }

    fn qi(&self) -> u32 {
        32
    }

    fn vdr(&self) -> u32 {
        WORDS
    }

    fn stages_weights(&self) -> bool {
        true
    }

    /// Two warps, two rows: with four words per thread the fastest warp count over M = 1
    /// and 8 at the Llama-3-8B shapes (docs/gemv-tuning.md, v12).
    fn default_geometry(&self) -> (u8, u8) {
        (2, 2)
    }

    /// `[quants[0..WORDS], scale]` per nibble `i`, then `d`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let Lane {
            half,
            in_half,
            eighth,
            iqs8,
        } = lane(b, iqs);
        let quarter = b.shr(Ty::U32, in_half, 2u32); // (iqs % 16) / 4
        // scale_offset = 8 * half + quarter
        let half8 = b.shl(Ty::U32, half, 3u32);
        let scale_offset = b.add(Ty::U32, half8, quarter);
        // The thread's 2-bit fields start at bit `vh_shift` of each `qh` byte: nibble 0's at
        // `vh_shift`, nibble 1's at `vh_shift + 4`, moved to bits 4..6 (`0x30` of each byte).
        let vh_shift = b.shl(Ty::U32, eighth, 1u32);
        let to_bit4 = b.sub(Ty::U32, 4u32, vh_shift);

        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let w_word = offset_addr(b, w_block, word_offset);
        let w_space = src.space(Space::GlobalNc);
        let vl = b2_words(b, src, w_word, WORDS as usize);
        let qh_word = b.add(Ty::U32, half8, iqs8);
        let qh_off = b.shl(Ty::U32, qh_word, 2u32);
        let w_qh = offset_addr(b, w_block, qh_off);
        let w_qh = b.add(Ty::U64, w_qh, QH as u64);
        let vh = b2_words(b, src, w_qh, WORDS as usize);
        let w_scales = offset_addr(b, w_block, scale_offset);
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                let sc = b.ld(
                    w_space,
                    Ty::S8,
                    Addr::reg_off(w_scales, SCALES + 4 * i64::from(i)),
                );
                let mut words: Vec<Reg> = vl
                    .iter()
                    .zip(&vh)
                    .map(|(&l, &h)| {
                        let low = bits(b, l, 4 * i, 0x0F0F_0F0F);
                        let high = if i == 0 {
                            b.shl(Ty::U32, h, to_bit4)
                        } else {
                            b.shr(Ty::U32, h, vh_shift)
                        };
                        let high = b.and(Ty::U32, high, 0x3030_3030u32);
                        b.or(Ty::U32, low, high)
                    })
                    .collect();
                words.push(sc);
                words
            })
            .collect();
        out.push(f16_in(b, w_space, Addr::reg_off(w_block, D)));
        out
    }

    /// Words `iqs % 8 .. + WORDS` of Q8_1 blocks `bq8_offset` and `bq8_offset + 2`, then their
    /// `{ d, s }`, then per block `Σ 32 u` over the thread's words (ggml's `- 32`, shared by
    /// every row).
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        // bq8_offset = 4 * (iqs / 16) + (iqs % 16) / 8
        let Lane {
            half, eighth, iqs8, ..
        } = lane(b, iqs);
        let half4 = b.shl(Ty::U32, half, 2u32);
        let bq8_offset = b.add(Ty::U32, half4, eighth);
        let block_bytes = b.shl(Ty::U32, bq8_offset, QK8_1.trailing_zeros());
        let word = b.shl(Ty::U32, iqs8, 2u32);
        let q_off = b.add(Ty::U32, block_bytes, word);
        let mut out: Vec<Reg> = (0..i64::from(QR))
            .flat_map(|i| x.quant_words(b, Some(q_off), 2 * i64::from(QK8_1) * i, WORDS as usize))
            .collect();
        for i in 0..i64::from(QR) {
            out.extend(x.scale_words(b, Some(bq8_offset), 2 * i, 1));
        }
        for i in 0..QR as usize {
            let mut bias = Operand::Int(0);
            for w in 0..WORDS as usize {
                bias = b
                    .dp4a(0x2020_2020u32, out[i * WORDS as usize + w], bias)
                    .into();
            }
            let Operand::Reg(bias) = bias else {
                unreachable!("WORDS > 0")
            };
            out.push(bias);
        }
        out
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let (qr, words) = (QR as usize, WORDS as usize);
        let [sumf] = sum_terms(b, qr, |b, i| {
            let u = &x[i * words..][..words];
            let d8 = ds_d(b, x[qr * words + i]);
            let q = &w[i * (words + 1)..][..words];
            let sc = w[i * (words + 1) + words];
            let mut dot = Operand::Int(0);
            for (&qw, &uw) in q.iter().zip(u) {
                dot = b.dp4a(qw, uw, dot).into();
            }
            let Operand::Reg(dot) = dot else {
                unreachable!("WORDS > 0")
            };
            let dot = b.sub(Ty::S32, dot, x[qr * words + qr + i]);
            let dot_sc = b.mul(Ty::S32, dot, sc);
            let f = to_f32(b, dot_sc);
            [b.mul(Ty::F32, d8, f)]
        });
        b.mul(Ty::F32, w[qr * (words + 1)], sumf)
    }
}
