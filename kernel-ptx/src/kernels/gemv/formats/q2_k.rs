//! Q2_K × Q8_1, the maths of ggml-cuda's `vec_dot_q2_K_q8_1` with
//! `vec_dot_q2_K_q8_1_impl_mmvq` (ggml/src/ggml-cuda/vecdotq.cuh) over a wider thread slice:
//! QI 16, VDR `WORDS`, so `16 / WORDS` threads share a block and thread `iqs` (a multiple of
//! `WORDS`) takes words `iqs .. iqs + WORDS` of `qs` (ggml's VDR is 1).
//!
//! `block_q2_K` (84 bytes, so only 4-byte aligned): `scales[16]` at 0 (scale low nibble, min
//! high nibble), `qs[64]` at 16, `dm = {d, dmin}` at 80. Word `w` of `qs` holds 2-bit quants
//! of elements `128 * (w / 8) + 32 * i + 4 * (w % 8) + 0..4` at bit `2i` (`i` = 0..4), which
//! meet word `w % 8` of Q8_1 block `4 * (w / 8) + i` and sub-block scale
//! `scales[(w - w % 8) + (w % 8) / 4 + 2i]`. A thread's `WORDS` consecutive words share the
//! Q8_1 blocks and scales, so per `i` it sums their dp4a exactly before ggml's
//! `sumf_d += d8 * (dot * (sc & 0xF)); sumf_m += d8 * dp4a(4 × (sc >> 4), u)`;
//! result `d * sumf_d - dmin * sumf_m`.

use crate::builder::{Addr, KernelBuilder, Operand, Reg, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, WeightSource, bits, ds_d, half2_at, int_b4, k_quant_activations,
    offset_addr, scaled_minus_mins, sum_terms, to_f32,
};
use quant_formats::GgmlType;

pub struct Q2K;
#[allow(non_upper_case_globals)]
pub const Q2_K: Q2K = Q2K;

const QS: i64 = 16;
const DM: i64 = 80;
/// ggml's `QR2_K`: quants per byte group, also the Q8_1 blocks one word meets.
const QR: u32 = 4;
/// Words of `qs` one thread reads per block visit.
const WORDS: u32 = 4;
const _: () = assert!(
    WORDS == 4,
    "a thread's words must share their scales (iqs % 8 < 4 or ≥ 4)"
);

/// Where thread `iqs`'s words sit: `(iqs / 8, iqs % 8)`.
fn lane(b: &mut KernelBuilder, iqs: Reg) -> (Reg, Reg) {
    let group = b.shr(Ty::U32, iqs, 3u32);
    let iqs8 = b.and(Ty::U32, iqs, 7u32);
    (group, iqs8)
}

/// `(x >> 8 * byte) & 0xFF` for a register `byte`.
fn byte_at(b: &mut KernelBuilder, x: Reg, byte: Reg) -> Reg {
    let shift = b.shl(Ty::U32, byte, 3u32);
    let shifted = b.shr(Ty::U32, x, shift);
    b.and(Ty::U32, shifted, 0xFFu32)
}

impl GemvFormat for Q2K {
    fn ty(&self) -> GgmlType {
        GgmlType::Q2_K
    }

    fn qi(&self) -> u32 {
        16
    }

    fn vdr(&self) -> u32 {
        WORDS
    }

    /// One warp, two rows: four threads per block, so a wider block would leave threads idle
    /// on 4096-wide rows (16 blocks).
    fn default_geometry(&self) -> (u8, u8) {
        (1, 2)
    }

    /// `[quants[0..WORDS], scale, min × 0x01010101]` per Q8_1 block `i`, then `d`, `dmin`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let (group, iqs8) = lane(b, iqs);
        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let w_word = offset_addr(b, w_block, word_offset);
        let q: Vec<Reg> = (0..i64::from(WORDS))
            .map(|w| int_b4(b, Addr::reg_off(w_word, QS + 4 * w)))
            .collect();
        // Scales `s, s + 2, s + 4, s + 6` with s = 8 * group + iqs8 / 4 (0, 1, 8 or 9): bytes
        // `s % 4 + 2i` of the two aligned words from `s & !3`.
        let group8 = b.shl(Ty::U32, group, 3u32);
        let w_scales = offset_addr(b, w_block, group8);
        let scale_words = [
            int_b4(b, Addr::reg(w_scales)),
            int_b4(b, Addr::reg_off(w_scales, 4)),
        ];
        let first = b.shr(Ty::U32, iqs8, 2u32);
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                let in_word = b.add(Ty::U32, first, (2 * i) % 4);
                let sc = byte_at(b, scale_words[(2 * i / 4) as usize], in_word);
                let mut words: Vec<Reg> =
                    q.iter().map(|&v| bits(b, v, 2 * i, 0x0303_0303)).collect();
                let scale = b.and(Ty::U32, sc, 0xFu32);
                // The min in every byte: (sc >> 4) * 0x01010101.
                let min = b.shr(Ty::U32, sc, 4u32);
                words.push(scale);
                words.push(b.mul(Ty::U32, min, 0x0101_0101u32));
                words
            })
            .collect();
        let (d, dmin) = half2_at(b, Addr::reg_off(w_block, DM));
        out.extend([d, dmin]);
        out
    }

    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        k_quant_activations(b, x, iqs, WORDS as usize)
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let (qr, words) = (QR as usize, WORDS as usize);
        let per_i = words + 2;
        let [sumf_d, sumf_m] = sum_terms(b, qr, |b, i| {
            let u = &x[i * words..][..words];
            let d8 = ds_d(b, x[qr * words + i]);
            let v = &w[i * per_i..][..words];
            let (scale, min4) = (w[i * per_i + words], w[i * per_i + words + 1]);
            let mut dot = Operand::Int(0);
            let mut dot_m = Operand::Int(0);
            for (&vw, &uw) in v.iter().zip(u) {
                dot = b.dp4a(vw, uw, dot).into();
                dot_m = b.dp4a(min4, uw, dot_m).into();
            }
            let (Operand::Reg(dot), Operand::Reg(dot_m)) = (dot, dot_m) else {
                unreachable!("WORDS > 0")
            };
            let dot_sc = b.mul(Ty::S32, dot, scale);
            let fd = to_f32(b, dot_sc);
            let term_d = b.mul(Ty::F32, d8, fd);
            let fm = to_f32(b, dot_m);
            let term_m = b.mul(Ty::F32, d8, fm);
            [term_d, term_m]
        });
        scaled_minus_mins(b, (w[per_i * qr], w[per_i * qr + 1]), sumf_d, sumf_m)
    }
}
