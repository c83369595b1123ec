//! The 32-element 4- and 5-bit formats Q4_0, Q4_1, Q5_0, Q5_1 × Q8_1, as ggml-cuda's
//! `vec_dot_q{4,5}_{0,1}_q8_1` with `vec_dot_q{4,5}_{0,1}_q8_1_impl<VDR>`
//! (ggml/src/ggml-cuda/vecdotq.cuh) at VDR 4 (ggml's is 2): QI = 4 words of `qs` per block,
//! so one thread takes a whole block: word `i` holds elements `4i..4i+4` (low nibbles) and
//! `16+4i..` (high nibbles), dotted with Q8_1 words `i` and `i + 4`.
//!
//! Offsets fold in with the Q8_1 sum `s8 = d8 * sum(q8)`: Q4_0 returns
//! `d4 * (sumi * d8 - (8 * VDR / QI) * s8)`, Q5_0 the same with 16; Q4_1/Q5_1 return
//! `sumi * (d * d8) + (m * s8) * VDR / QI` (each thread adds its share of the min term).

use crate::builder::{Addr, KernelBuilder, Reg, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, WeightSource, bits, dp4a_nibble_pairs, ds_pair, f16_at, half2_at, int_b4,
    nibble_pair_activations, offset_addr, to_f32, unaligned_words,
};
use quant_formats::GgmlType;

/// Layout of one legacy block: where `qs` (and `qh`) start and whether a min follows `d`.
pub struct Legacy {
    ty: GgmlType,
    /// `block_q4_1`/`block_q5_1` carry `dm = {d, m}`; the others only `d`.
    has_min: bool,
    /// Offset of the 4-byte `qh` (5-bit formats).
    qh: Option<i64>,
    qs: i64,
}

pub const Q4_0: Legacy = Legacy {
    ty: GgmlType::Q4_0,
    has_min: false,
    qh: None,
    qs: 2,
};
pub const Q4_1: Legacy = Legacy {
    ty: GgmlType::Q4_1,
    has_min: true,
    qh: None,
    qs: 4,
};
pub const Q5_0: Legacy = Legacy {
    ty: GgmlType::Q5_0,
    has_min: false,
    qh: Some(2),
    qs: 6,
};
pub const Q5_1: Legacy = Legacy {
    ty: GgmlType::Q5_1,
    has_min: true,
    qh: Some(4),
    qs: 8,
};

const VDR: u32 = 4;
const QI: u32 = 4;

impl Legacy {
    /// `count` consecutive words at byte `offset` of `base`: blocks with a min are 4-byte
    /// aligned (`get_int_b4`), the others only 2-byte, read as aligned words funnel-shifted
    /// into place (`unaligned_words`, where ggml reads `u16` halves).
    fn words(&self, b: &mut KernelBuilder, base: Reg, offset: i64, count: usize) -> Vec<Reg> {
        if self.has_min {
            (0..count as i64)
                .map(|i| int_b4(b, Addr::reg_off(base, offset + 4 * i)))
                .collect()
        } else {
            let first = b.add(Ty::U64, base, offset as u64);
            unaligned_words(b, first, count)
        }
    }

    /// The two 4-byte quant groups of word `i`: `(low nibbles, high nibbles)`, each with the
    /// fifth bits of 5-bit formats merged in (`vec_dot_q5_*_q8_1_impl`).
    fn quants(&self, b: &mut KernelBuilder, vl: Reg, vh: Option<Reg>) -> (Reg, Reg) {
        let mut vi0 = bits(b, vl, 0, 0x0F0F_0F0F);
        let mut vi1 = bits(b, vl, 4, 0x0F0F_0F0F);
        if let Some(vh) = vh {
            // qh bits 0..4 → bit 4 of bytes 0..4; bits 16..20 → the same for the high nibbles.
            for (left, mask) in [
                (4u32, 0x10u32),
                (11, 0x1000),
                (18, 0x10_0000),
                (25, 0x1000_0000),
            ] {
                let s = b.shl(Ty::U32, vh, left);
                let m = b.and(Ty::U32, s, mask);
                vi0 = b.or(Ty::U32, vi0, m);
            }
            for (left, amount, mask) in [
                (false, 12u32, 0x10u32),
                (false, 5, 0x1000),
                (true, 2, 0x10_0000),
                (true, 9, 0x1000_0000),
            ] {
                let s = if left {
                    b.shl(Ty::U32, vh, amount)
                } else {
                    b.shr(Ty::U32, vh, amount)
                };
                let m = b.and(Ty::U32, s, mask);
                vi1 = b.or(Ty::U32, vi1, m);
            }
        }
        (vi0, vi1)
    }
}

impl GemvFormat for Legacy {
    fn ty(&self) -> GgmlType {
        self.ty
    }

    fn qi(&self) -> u32 {
        QI
    }

    fn vdr(&self) -> u32 {
        VDR
    }

    /// One warp (a thread per block): the fastest warp count at M = 1 and 8 at the Llama-3-8B
    /// shapes with four words per thread (docs/gemv-tuning.md v13).
    fn default_geometry(&self) -> (u8, u8) {
        (1, 2)
    }

    /// `[low, high]` quants of words `iqs`, `iqs + 1`, then `d` (and `m` with a min).
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let word_offset = b.shl(Ty::U32, iqs, 2u32);
        let w_words = offset_addr(b, w_block, word_offset);
        let qh = self.qh.map(|off| self.words(b, w_block, off, 1)[0]);
        let vls = self.words(b, w_words, self.qs, VDR as usize);
        let mut out: Vec<Reg> = (0..VDR)
            .flat_map(|i| {
                let vl = vls[i as usize];
                // vh = qh >> (4 * (iqs + i))
                let vh = qh.map(|qh| {
                    let shift = b.add(Ty::U32, word_offset, 4 * i);
                    b.shr(Ty::U32, qh, shift)
                });
                let (lo, hi) = self.quants(b, vl, vh);
                [lo, hi]
            })
            .collect();
        if self.has_min {
            let (d, m) = half2_at(b, Addr::reg(w_block));
            out.extend([d, m]);
        } else {
            out.push(f16_at(b, Addr::reg(w_block)));
        }
        out
    }

    /// Q8_1 words `iqs, iqs + 1` and `iqs + 4, iqs + 5` (two 8-byte loads), then `{d, s}`.
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        nibble_pair_activations(b, x, iqs, VDR as usize)
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let quants = 2 * VDR as usize;
        let sumi = dp4a_nibble_pairs(b, &w[..quants], &x[..quants]);
        let (d8, s8) = ds_pair(b, x[quants]);
        let sumf = to_f32(b, sumi);
        if self.has_min {
            // sumi * (d * d8) + (m * s8) / (QI8_1 / (VDR * QR)), QI8_1 = 8 and QR = 2
            let (d, m) = (w[quants], w[quants + 1]);
            let dd8 = b.mul(Ty::F32, d, d8);
            let ms8 = b.mul(Ty::F32, m, s8);
            // A thread's share of the min term: all of it when it takes the whole block.
            let share = if VDR * 2 == 8 {
                ms8
            } else {
                b.mul(Ty::F32, ms8, (VDR * 2) as f32 / 8.0)
            };
            let scaled = b.mul(Ty::F32, sumf, dd8);
            b.add(Ty::F32, scaled, share)
        } else {
            // d * (sumi * d8 - (offset * VDR / QI) * s8), offset 8 (4-bit) or 16 (5-bit)
            let d = w[quants];
            let offset = if self.qh.is_some() { 16.0 } else { 8.0 };
            let k = offset * VDR as f32 / QI as f32;
            let ks8 = b.mul(Ty::F32, s8, k);
            let sd8 = b.mul(Ty::F32, sumf, d8);
            let diff = b.sub(Ty::F32, sd8, ks8);
            b.mul(Ty::F32, d, diff)
        }
    }
}
