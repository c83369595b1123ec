//! Q4_K and Q5_K super-blocks decoded for the tensor-core body (`tensor_core/`), where thread
//! `t` of an mma group takes elements `8t .. 8t + 8` of every 32-element sub-block, and for the
//! whole-block body (`whole_block.rs`), where one lane decodes whole sub-blocks.
//!
//! `block_q4_K` (144 bytes): `dm = {d, dmin}` at 0, `scales[12]` at 4, `qs[128]` at 16;
//! `block_q5_K` (176 bytes): the same plus `qh[32]` at 16, `qs` at 48. Sub-block `2j + h`
//! element `e` is nibble `h` of `qs[32j + e]` (plus, for Q5_K, bit `2j + h` of `qh[e]` as
//! 16), so the thread reads `qs[32j + 8t .. 32j + 8t + 8]` per pair `j` and `qh[8t .. 8t + 8]`,
//! all 8-byte aligned. Scales and mins are ggml's `get_scale_min_k4` on the 12 scale bytes
//! `q`, four at a time in 32-bit words: `sc[0..4] = q[0..4] & 63`, `m[0..4] = q[4..8] & 63`,
//! `sc[4..8] = (q[8..12] & 15) | (q[0..4] >> 6) << 4`,
//! `m[4..8] = (q[8..12] >> 4) | (q[4..8] >> 6) << 4`.

use super::q4_k::AffineK;
use crate::builder::{Addr, KernelBuilder, Reg, Round, Space, Ty};
use crate::kernels::gemv::format::bits;
use crate::kernels::gemv::tensor_core::{MmaFormat, RowFactors};
use quant_formats::GgmlType;

const NIBBLES: u32 = 0x0F0F_0F0F;
const ONES: u32 = 0x0101_0101;
const SIX_BITS: u32 = 0x3F3F_3F3F;
const TOP_TWO: u32 = 0xC0C0_C0C0;

/// The eight 6-bit scales and eight mins, each as four bytes of two words:
/// `([sc 0..4, sc 4..8], [m 0..4, m 4..8])`, from header words `q0 = q[0..4]`,
/// `q1 = q[4..8]`, `q2 = q[8..12]`.
fn scale_and_min_words(b: &mut KernelBuilder, q0: Reg, q1: Reg, q2: Reg) -> ([Reg; 2], [Reg; 2]) {
    let sc_low = b.and(Ty::U32, q0, SIX_BITS);
    let m_low = b.and(Ty::U32, q1, SIX_BITS);
    let sc_top = b.and(Ty::U32, q0, TOP_TWO);
    let sc_top = b.shr(Ty::U32, sc_top, 2u32);
    let sc_bottom = b.and(Ty::U32, q2, NIBBLES);
    let sc_high = b.or(Ty::U32, sc_bottom, sc_top);
    let m_top = b.and(Ty::U32, q1, TOP_TWO);
    let m_top = b.shr(Ty::U32, m_top, 2u32);
    let m_bottom = bits(b, q2, 4, NIBBLES);
    let m_high = b.or(Ty::U32, m_bottom, m_top);
    ([sc_low, sc_high], [m_low, m_high])
}

/// Byte `i % 4` of `words[i / 4]` for `i` in `0..8`.
fn bytes_of(b: &mut KernelBuilder, words: [Reg; 2]) -> Vec<Reg> {
    (0..8u32)
        .map(|i| b.bfe(Ty::U32, words[i as usize / 4], 8 * (i % 4), 8u32))
        .collect()
}

impl MmaFormat for AffineK {
    fn ty(&self) -> GgmlType {
        self.ty
    }

    fn load_quants(&self, b: &mut KernelBuilder, space: Space, w_thread: Reg) -> Vec<Reg> {
        let mut words: Vec<Reg> = (0..4i64)
            .flat_map(|j| b.ld_vec(space, Ty::B32, 2, Addr::reg_off(w_thread, self.qs + 32 * j)))
            .collect();
        if let Some(qh) = self.qh {
            words.extend(b.ld_vec(space, Ty::B32, 2, Addr::reg_off(w_thread, qh)));
        }
        words
    }

    /// `words`: `qs` words `[2j + w]` for pairs `j` in `0..4`, then (Q5_K) `qh` words `w`.
    fn decode_quants(&self, b: &mut KernelBuilder, words: &[Reg]) -> Vec<[Reg; 2]> {
        let (qs, qh) = words.split_at(8);
        (0..8u32)
            .map(|sub| {
                let (j, nibble) = (sub as usize / 2, sub % 2);
                [0, 1].map(|w| {
                    let low = bits(b, qs[2 * j + w], 4 * nibble, NIBBLES);
                    if qh.is_empty() {
                        return low;
                    }
                    let high = bits(b, qh[w], sub, ONES);
                    let high = b.shl(Ty::U32, high, 4u32);
                    b.or(Ty::U32, low, high)
                })
            })
            .collect()
    }

    fn load_high_bits(&self, b: &mut KernelBuilder, space: Space, w_block: Reg) -> Vec<Reg> {
        self.qh.map_or_else(Vec::new, |qh| {
            (0..2i64)
                .flat_map(|c| b.ld_vec(space, Ty::B32, 4, Addr::reg_off(w_block, qh + 16 * c)))
                .collect()
        })
    }

    /// `qs[32j .. 32j + 32]` as eight words: low nibbles sub-block `2j`, high nibbles `2j + 1`,
    /// plus (Q5_K) bit `2j + h` of `qh` word `w`'s bytes as 16.
    fn load_sub_block_pair(
        &self,
        b: &mut KernelBuilder,
        space: Space,
        w_block: Reg,
        j: u32,
        high: &[Reg],
    ) -> [Vec<Reg>; 2] {
        let qs: Vec<Reg> = (0..2i64)
            .flat_map(|c| {
                let offset = self.qs + 32 * i64::from(j) + 16 * c;
                b.ld_vec(space, Ty::B32, 4, Addr::reg_off(w_block, offset))
            })
            .collect();
        [0u32, 1].map(|h| {
            qs.iter()
                .enumerate()
                .map(|(w, &word)| {
                    let low = bits(b, word, 4 * h, NIBBLES);
                    let Some(&high_word) = high.get(w) else {
                        return low;
                    };
                    let bit = bits(b, high_word, 2 * j + h, ONES);
                    let bit = b.shl(Ty::U32, bit, 4u32);
                    b.or(Ty::U32, low, bit)
                })
                .collect()
        })
    }

    fn load_factors(&self, b: &mut KernelBuilder, space: Space, w_block: Reg) -> Vec<Reg> {
        b.ld_vec(space, Ty::B32, 4, Addr::reg(w_block))
    }

    /// `header`: `[dm, scales[0..4], scales[4..8], scales[8..12]]`.
    fn decode_factors(&self, b: &mut KernelBuilder, header: &[Reg]) -> RowFactors {
        let (sc_words, m_words) = scale_and_min_words(b, header[1], header[2], header[3]);
        let scales = bytes_of(b, sc_words);
        let mins = bytes_of(b, m_words)
            .into_iter()
            .map(|m| b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), m))
            .collect();
        let (d, dmin) = b.unpack_b16x2(header[0]);
        let d = b.cvt(Ty::F32, Ty::F16, None, d);
        let dmin = b.cvt(Ty::F32, Ty::F16, None, dmin);
        let neg_dmin = b.neg(Ty::F32, dmin);
        RowFactors {
            scales,
            mins,
            d,
            neg_dmin,
        }
    }
}
