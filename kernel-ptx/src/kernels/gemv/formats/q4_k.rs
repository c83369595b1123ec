//! Q4_K and Q5_K × Q8_1, the maths of ggml-cuda's `vec_dot_q{4,5}_K_q8_1` with
//! `vec_dot_q{4,5}_K_q8_1_impl_vmmq` (ggml/src/ggml-cuda/vecdotq.cuh), with a wider thread
//! slice: VDR 4, QI 32, so eight threads share a block, `iqs` = 0, 4, .., 28, and each reads
//! one whole 16-byte chunk of `qs` with one `ld.global.nc.v4` (ggml reads two 4-byte words).
//!
//! `block_q4_K` (144 bytes): `dm = {d, dmin}` at 0, `scales[12]` at 4, `qs[128]` at 16.
//! `block_q5_K` (176 bytes): the same plus `qh[32]` at 16, `qs` at 48.
//! Both sizes are multiples of 16, so `qs` (and `qh`) chunks are 16-byte aligned when the
//! tensor base is. Thread `iqs` takes chunk `j = iqs / 8` of 64 elements (`qs` bytes
//! `32j .. 32j + 32`) and half `h = (iqs / 4) % 2`: `qs` words `8j + 4h .. 8j + 4h + 4`
//! (elements `64j + 16h + 0..16`, low nibble for sub-block `2j`, high nibble for `2j + 1`),
//! dotted with words `4h .. 4h + 4` of Q8_1 blocks `2j` and `2j + 1`:
//! `sumf_d += d8 * (dot * sc); sumf_m += d8 * (sum(u) * m)`, result
//! `d * sumf_d - dmin * sumf_m`. Q5_K's fifth bits come from `qh` words `4h .. 4h + 4`, bit
//! `2j + i` of each byte.

use crate::builder::{Addr, Cmp, KernelBuilder, Operand, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    GemvFormat, Q8_1_BYTES, WeightSource, bits, half2_in, offset_addr, scaled_minus_mins,
    sum_over_q8_1, to_f32,
};
use quant_formats::GgmlType;

/// Q4_K or Q5_K: where `qs` starts and, for Q5_K, `qh`.
pub struct AffineK {
    ty: GgmlType,
    qh: Option<i64>,
    qs: i64,
}

pub const Q4_K: AffineK = AffineK {
    ty: GgmlType::Q4_K,
    qh: None,
    qs: 16,
};
pub const Q5_K: AffineK = AffineK {
    ty: GgmlType::Q5_K,
    qh: Some(16),
    qs: 48,
};

const SCALES: i64 = 4;
/// ggml's `QR4_K` / `QR5_K`: sub-blocks (Q8_1 blocks) one thread's words meet.
const QR: u32 = 2;
const ONES: u32 = 0x0101_0101;
/// Words of `qs` (and of `qh`) one thread reads per block visit: 4 (one 16-byte chunk) or 8
/// (two, the whole 32 bytes of `qs` chunk j). 8 measured 0–7 % faster at M = 1 and 25 %
/// slower at M = 8 (docs/gemv-tuning.md).
const WORDS: u32 = 4;

/// A `u16` at `addr`, zero-extended to u32.
fn u16_at(b: &mut KernelBuilder, space: Space, addr: Addr) -> Reg {
    let h = b.ld(space, Ty::U16, addr);
    b.cvt(Ty::U32, Ty::U16, None, h)
}

/// Scales and mins of sub-blocks `2j` and `2j + 1` as ggml's `aux[2]` of `u16`s:
/// `j < 2`: `sc16[j] & 0x3f3f`, `sc16[j+2] & 0x3f3f`; otherwise the low nibbles from
/// `sc16[j+2]` and the high bits from `sc16[j-2]`, `sc16[j]`. Returns `[sc0, sc1, m0, m1]`.
fn scales_and_mins(b: &mut KernelBuilder, space: Space, w_block: Reg, j: Reg) -> [Reg; 4] {
    let j2 = b.shl(Ty::U32, j, 1u32);
    let at_j = offset_addr(b, w_block, j2);
    let a = u16_at(b, space, Addr::reg_off(at_j, SCALES));
    let c = u16_at(b, space, Addr::reg_off(at_j, SCALES + 4));
    // j ^ 2 is j - 2 for j >= 2 (and j + 2, unused, otherwise).
    let jx = b.xor(Ty::U32, j, 2u32);
    let jx2 = b.shl(Ty::U32, jx, 1u32);
    let at_jx = offset_addr(b, w_block, jx2);
    let e = u16_at(b, space, Addr::reg_off(at_jx, SCALES));

    let low_sc = b.and(Ty::U32, a, 0x3f3fu32);
    let low_m = b.and(Ty::U32, c, 0x3f3fu32);

    let hi_sc_lo = b.and(Ty::U32, c, 0x0f0fu32);
    let hi_sc_hi = b.and(Ty::U32, e, 0xc0c0u32);
    let hi_sc_hi = b.shr(Ty::U32, hi_sc_hi, 2u32);
    let high_sc = b.or(Ty::U32, hi_sc_lo, hi_sc_hi);
    let hi_m_lo = bits(b, c, 4, 0x0f0f);
    let hi_m_hi = b.and(Ty::U32, a, 0xc0c0u32);
    let hi_m_hi = b.shr(Ty::U32, hi_m_hi, 2u32);
    let high_m = b.or(Ty::U32, hi_m_lo, hi_m_hi);

    let is_low = b.setp(Cmp::Lt, Ty::U32, j, 2u32);
    let sc = b.selp(Ty::U32, low_sc, high_sc, is_low);
    let m = b.selp(Ty::U32, low_m, high_m, is_low);
    [
        b.and(Ty::U32, sc, 0xffu32),
        b.shr(Ty::U32, sc, 8u32),
        b.and(Ty::U32, m, 0xffu32),
        b.shr(Ty::U32, m, 8u32),
    ]
}

impl GemvFormat for AffineK {
    fn ty(&self) -> GgmlType {
        self.ty
    }

    fn qi(&self) -> u32 {
        32
    }

    fn vdr(&self) -> u32 {
        WORDS
    }

    /// One warp, two rows: as fast as four warps at M = 1 and faster at M = 8
    /// (docs/gemv-tuning.md).
    fn default_geometry(&self) -> (u8, u8) {
        (1, 2)
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
        let j = b.shr(Ty::U32, iqs, 3u32);
        let bq8_offset = b.shl(Ty::U32, j, 1u32);
        // h16: the thread's first byte inside the 32 bytes of chunk j (and inside qh, and the
        // activation words' offset inside a Q8_1 block's qs): 16 * ((iqs / 4) % 2), 0 for 8 words.
        let h16 = b.shl(Ty::U32, iqs, 2u32);
        let h16 = b.and(Ty::U32, h16, 31u32);
        // q offset = 32 * j + h16
        let j32 = b.shl(Ty::U32, j, 5u32);
        let q_off = b.add(Ty::U32, j32, h16);
        let w_q = offset_addr(b, w_block, q_off);
        let w_stream = src.space(Space::GlobalNcNoAllocate);
        let chunks = 0..i64::from(WORDS / 4);
        let vl: Vec<Reg> = chunks
            .clone()
            .flat_map(|c| b.ld_vec(w_stream, Ty::B32, 4, Addr::reg_off(w_q, self.qs + 16 * c)))
            .collect();
        let vh = self.qh.map(|qh| {
            let w_h = offset_addr(b, w_block, h16);
            chunks
                .flat_map(|c| b.ld_vec(w_stream, Ty::B32, 4, Addr::reg_off(w_h, qh + 16 * c)))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| b.shr(Ty::U32, h, bq8_offset))
                .collect::<Vec<_>>()
        });
        let [sc0, sc1, m0, m1] = scales_and_mins(b, src.space(Space::GlobalNc), w_block, j);
        let (sc, m) = ([sc0, sc1], [m0, m1]);
        // v[i][w] = quants of sub-block 2j + i in word w
        let v: Vec<Vec<Reg>> = (0..QR)
            .map(|i| {
                (0..WORDS as usize)
                    .map(|w| {
                        let low = bits(b, vl[w], 4 * i, 0x0F0F_0F0F);
                        match &vh {
                            None => low,
                            Some(vh) => {
                                let h = bits(b, vh[w], i, ONES);
                                let h = b.shl(Ty::U32, h, 4u32);
                                b.or(Ty::U32, low, h)
                            }
                        }
                    })
                    .collect()
            })
            .collect();
        let (d, dmin) = half2_in(b, src.space(Space::GlobalNc), Addr::reg(w_block));

        let x_blocks_off = b.mul(Ty::U32, bq8_offset, Q8_1_BYTES);
        x_blocks
            .iter()
            .map(|&x_block| {
                let stride = i64::from(Q8_1_BYTES);
                let [sumf_d, sumf_m] =
                    sum_over_q8_1(b, x_block, x_blocks_off, h16, v.len(), stride, |b, i, x| {
                        let d8 = x.d(b);
                        let mut dot = Operand::Int(0);
                        let mut sum_u = Operand::Int(0);
                        for (w, &vw) in v[i].iter().enumerate() {
                            let u = x.word(b, w as i64);
                            dot = b.dp4a(vw, u, dot).into();
                            sum_u = b.dp4a(ONES, u, sum_u).into();
                        }
                        let dot_sc = b.mul(Ty::S32, dot, sc[i]);
                        let fd = to_f32(b, dot_sc);
                        let term_d = b.mul(Ty::F32, d8, fd);
                        let sum_m = b.mul(Ty::S32, sum_u, m[i]);
                        let fm = to_f32(b, sum_m);
                        let term_m = b.mul(Ty::F32, d8, fm);
                        [term_d, term_m]
                    });
                scaled_minus_mins(b, (d, dmin), sumf_d, sumf_m)
            })
            .collect()
    }
}
