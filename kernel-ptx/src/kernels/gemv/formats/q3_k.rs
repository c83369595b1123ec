//! Q3_K × Q8_1, the maths of ggml-cuda's `vec_dot_q3_K_q8_1` with
//! `vec_dot_q3_K_q8_1_impl_mmvq` (ggml/src/ggml-cuda/vecdotq.cuh) over a wider thread slice:
//! QI 16, VDR `WORDS`, so `16 / WORDS` threads share a block and thread `iqs` (a multiple of
//! `WORDS`) takes words `iqs .. iqs + WORDS` of `qs` (ggml's VDR is 1).
//!
//! `block_q3_K` (110 bytes, so only 2-byte aligned): `hmask[32]` at 0, `qs[64]` at 32,
//! `scales[12]` at 96, `d` at 108. Word `w` of `qs` holds the low 2 bits of elements
//! `128 * (w / 8) + 32 * i + 4 * (w % 8) + 0..4` at bit `2i`; their high bits sit in word
//! `w % 8` of `hmask` at bit `4 * (w / 8) + i` (set means "no -4"). Each meets word `w % 8` of
//! Q8_1 block `4 * (w / 8) + i` and the signed 6-bit scale `isc`. A thread's `WORDS`
//! consecutive words share the Q8_1 blocks and scales, so per `i` it sums their dp4a exactly
//! before ggml's `sumf += d8 * (dot * sc)`; result `d * sumf`. ggml's `__vsubss4(vil, vih)`
//! never saturates here (`0..=3` minus `0` or `4`), so it is the plain bytewise difference
//! (`signed_quants`) and one dp4a per word gives the same sum.

use crate::builder::{Addr, KernelBuilder, Operand, Reg, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, WeightSource, bits, ds_d, f16_at, k_quant_activations, k_quant_lane,
    offset_addr, sum_terms, to_f32, unaligned_words,
};
use quant_formats::GgmlType;

pub struct Q3K;
#[allow(non_upper_case_globals)]
pub const Q3_K: Q3K = Q3K;

const QS: i64 = 32;
const SCALES: i64 = 96;
const D: i64 = 108;
/// ggml's `QR3_K`.
const QR: u32 = 4;
/// Words of `qs` (and of `hmask`) one thread reads per block visit.
const WORDS: u32 = 4;
const _: () = assert!(
    WORDS == 4,
    "a thread's words must share their scales (iqs % 8 < 4 or ≥ 4)"
);

/// The signed scales of sub-blocks `so + 2i` (`i` in 0..4, `so` in {0, 1, 8, 9}): scale `isc`
/// has its low nibble in `scales[isc % 8]` at bit `4 * (isc / 8)` and its high 2 bits in
/// `scales[8 + isc % 4]` at bit `2 * (isc / 4)`, minus 32. Read as the two words of
/// `scales[0..8]` and the word of `scales[8..12]`.
fn scales(b: &mut KernelBuilder, w_block: Reg, so: Reg) -> Vec<Reg> {
    let w_scales = b.add(Ty::U64, w_block, SCALES as u64);
    let low_words = unaligned_words(b, w_scales, 2);
    let w_high = b.add(Ty::U64, w_block, SCALES as u64 + 8);
    let [high_word] = unaligned_words(b, w_high, 1)[..] else {
        unreachable!("one word")
    };
    let so8 = b.and(Ty::U32, so, 7u32);
    let so4 = b.and(Ty::U32, so, 3u32);
    let low_shift = b.shr(Ty::U32, so, 3u32);
    let low_shift = b.shl(Ty::U32, low_shift, 2u32);
    (0..4u32)
        .map(|i| {
            // isc % 8 = so % 8 + 2i (< 8): byte (so % 8 + 2i) % 4 of word i / 2.
            let low_byte = b.add(Ty::U32, so8, (2 * i) % 4);
            let low = byte_at(b, low_words[(i / 2) as usize], low_byte);
            let low = b.shr(Ty::U32, low, low_shift);
            let low = b.and(Ty::U32, low, 0xFu32);
            // isc % 4 = so % 4 + 2 (i % 2); isc / 4 = (so + 2i) / 4.
            let high_byte = b.add(Ty::U32, so4, 2 * (i % 2));
            let high = byte_at(b, high_word, high_byte);
            let isc = b.add(Ty::U32, so, 2 * i);
            let high_shift = b.shr(Ty::U32, isc, 2u32);
            let high_shift = b.shl(Ty::U32, high_shift, 1u32);
            let high = b.shr(Ty::U32, high, high_shift);
            let high = b.and(Ty::U32, high, 3u32);
            let high = b.shl(Ty::U32, high, 4u32);
            let sc = b.or(Ty::U32, low, high);
            b.sub(Ty::S32, sc, 32u32)
        })
        .collect()
}

/// `(x >> 8 * byte) & 0xFF` for a register `byte`.
fn byte_at(b: &mut KernelBuilder, x: Reg, byte: Reg) -> Reg {
    let shift = b.shl(Ty::U32, byte, 3u32);
    let shifted = b.shr(Ty::U32, x, shift);
    b.and(Ty::U32, shifted, 0xFFu32)
}

/// Bytewise `low - high` as signed bytes, for `low` bytes in `0..=3` and `high` bytes 0 or 4:
/// each byte offset by 0x80 first so no byte borrows from the next, then the offset removed.
fn signed_quants(b: &mut KernelBuilder, low: Reg, high: Reg) -> Reg {
    let offset = b.or(Ty::U32, low, 0x8080_8080u32);
    let diff = b.sub(Ty::U32, offset, high);
    b.xor(Ty::U32, diff, 0x8080_8080u32)
}

impl GemvFormat for Q3K {
    fn ty(&self) -> GgmlType {
        GgmlType::Q3_K
    }

    fn qi(&self) -> u32 {
        16
    }

    fn vdr(&self) -> u32 {
        WORDS
    }

    /// One warp, one row: four threads per block, so a wider block would leave threads idle
    /// on 4096-wide rows (16 blocks); a row's decoded weights take 21 registers per visit.
    fn default_geometry(&self) -> (u8, u8) {
        (1, 1)
    }

    /// Two visits in flight only for up to four accumulators (ptxas spills the fused
    /// M = 3.. kernels otherwise).
    fn max_unrolled_accumulators(&self) -> usize {
        4
    }

    /// `[signed quants × WORDS, scale]` per Q8_1 block `i`, then `d`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        // bq8_offset = QR3_K * (iqs / (QI3_K / 2)); scale_offset = iqs - iqs % 8 + (iqs % 8) / 4.
        let lane = k_quant_lane(b, w_block, iqs, QR);
        let w_qs = b.add(Ty::U64, lane.w_word, QS as u64);
        let vl = unaligned_words(b, w_qs, WORDS as usize);
        let hmask_word = b.shl(Ty::U32, lane.iqs8, 2u32);
        let w_hmask = offset_addr(b, w_block, hmask_word);
        let vh: Vec<Reg> = unaligned_words(b, w_hmask, WORDS as usize)
            .into_iter()
            .map(|hmask| {
                let inverted = b.not(Ty::U32, hmask);
                b.shr(Ty::U32, inverted, lane.bq8_offset)
            })
            .collect();
        let sc = scales(b, w_block, lane.scale_offset);
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                let sc = sc[i as usize];
                let mut words: Vec<Reg> = vl
                    .iter()
                    .zip(&vh)
                    .map(|(&l, &h)| {
                        let vil = bits(b, l, 2 * i, 0x0303_0303);
                        let vh_i = bits(b, h, i, 0x0101_0101);
                        let vih = b.shl(Ty::U32, vh_i, 2u32);
                        signed_quants(b, vil, vih)
                    })
                    .collect();
                words.push(sc);
                words
            })
            .collect();
        out.push(f16_at(b, Addr::reg_off(w_block, D)));
        out
    }

    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        k_quant_activations(b, x, iqs, WORDS as usize)
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let (qr, words) = (QR as usize, WORDS as usize);
        let per_i = words + 1;
        let [sumf] = sum_terms(b, qr, |b, i| {
            let u = &x[i * words..][..words];
            let d8 = ds_d(b, x[qr * words + i]);
            let v = &w[i * per_i..][..words];
            let sc = w[i * per_i + words];
            let mut dot = Operand::Int(0);
            for (&vw, &uw) in v.iter().zip(u) {
                dot = b.dp4a(vw, uw, dot).into();
            }
            let Operand::Reg(dot) = dot else {
                unreachable!("WORDS > 0")
            };
            let dot_sc = b.mul(Ty::S32, dot, sc);
            let f = to_f32(b, dot_sc);
            [b.mul(Ty::F32, d8, f)]
        });
        b.mul(Ty::F32, w[per_i * qr], sumf)
    }
}
