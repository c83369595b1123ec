//! Q4_K and Q5_K × Q8_1, the maths of ggml-cuda's `vec_dot_q{4,5}_K_q8_1` with
//! `vec_dot_q{4,5}_K_q8_1_impl_vmmq` (ggml/src/ggml-cuda/vecdotq.cuh), with a wider thread
//! slice: VDR 4, QI 32, so eight threads share a block, `iqs` = 0, 4, .., 28, and each reads
//! one whole 16-byte chunk of `qs` with one `ld.global.nc.v4` (ggml reads two 4-byte words),
//! the 16-byte header `{dm, scales}` with one more, and its activations (16 bytes of each of
//! two Q8_1 blocks in the planar layout) with two.
//!
//! `block_q4_K` (144 bytes): `dm = {d, dmin}` at 0, `scales[12]` at 4, `qs[128]` at 16.
//! `block_q5_K` (176 bytes): the same plus `qh[32]` at 16, `qs` at 48.
//! Both sizes are multiples of 16, so `qs` (and `qh`) chunks are 16-byte aligned when the
//! tensor base is. Thread `iqs` takes chunk `j = iqs / 8` of 64 elements (`qs` bytes
//! `32j .. 32j + 32`) and half `h = (iqs / 4) % 2`: `qs` words `8j + 4h .. 8j + 4h + 4`
//! (elements `64j + 16h + 0..16`, low nibble for sub-block `2j`, high nibble for `2j + 1`),
//! dotted with words `4h .. 4h + 4` of Q8_1 blocks `2j` and `2j + 1`:
//! ggml's `sumf_d += d8 * (dot * sc); sumf_m += d8 * (sum(u) * m)`, result
//! `d * sumf_d - dmin * sumf_m`, computed as `sum_i d8_i * ((d * sc_i) * dot_i) + sum_i
//! (-dmin * m_i) * (d8_i * sum(u_i))` with `d * sc_i`, `-dmin * m_i` once per row and
//! `d8_i * sum(u_i)` once per column (the same terms, rounded in another order). Q5_K's fifth bits come from `qh` words `4h .. 4h + 4`, bit
//! `2j + i` of each byte.

use crate::builder::{Addr, Cmp, KernelBuilder, Operand, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, QK8_1, WeightSource, bits, ds_d, offset_addr, to_f32,
};
use quant_formats::GgmlType;

/// Q4_K or Q5_K: where `qs` starts and, for Q5_K, `qh` (shared with the tensor-core decode,
/// `affine_k_mma.rs`).
pub struct AffineK {
    pub(super) ty: GgmlType,
    pub(super) qh: Option<i64>,
    pub(super) qs: i64,
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

/// ggml's `QR4_K` / `QR5_K`: sub-blocks (Q8_1 blocks) one thread's words meet.
const QR: u32 = 2;
const ONES: u32 = 0x0101_0101;
/// Words of `qs` (and of `qh`) one thread reads per block visit: 4 (one 16-byte chunk) or 8
/// (two, the whole 32 bytes of `qs` chunk j). 8 measured 0–7 % faster at M = 1 and 25 %
/// slower at M = 8 (docs/gemv-tuning.md).
const WORDS: u32 = 4;

/// Scales and mins of sub-blocks `2j` and `2j + 1` from the block's 16-byte header words
/// `h = [dm, scales[0..4], scales[4..8], scales[8..12]]`, as ggml's `aux[2]` of `u16`s
/// `sc16[i] = scales[2i] | scales[2i + 1] << 8`:
/// `j < 2`: `sc16[j] & 0x3f3f`, `sc16[j+2] & 0x3f3f`; otherwise the low nibbles from
/// `sc16[j+2]` and the high bits from `sc16[j-2]`, `sc16[j]`. Every `sc16` involved is bytes
/// `2 (j & 1)`, `2 (j & 1) + 1` of one scales word, so four `prmt`s with selectors that depend
/// on `j` only (hoisted out of the K loop) gather them: `sc = (P & mask) | (Q & 0xc0c0) >> 2`,
/// `m = (R >> shift & mask) | (S & 0xc0c0) >> 2` with, for `j < 2`, `P = sc16[j]`, `R =
/// sc16[j+2]`, `Q = S = 0`, mask `0x3f3f`, shift 0; otherwise `P = R = sc16[j+2]`, `Q =
/// sc16[j-2]`, `S = sc16[j]`, mask `0x0f0f`, shift 4. Returns `[sc0, sc1, m0, m1]`.
fn scales_and_mins(b: &mut KernelBuilder, h: &[Reg], j: Reg) -> [Reg; 4] {
    let is_low = b.setp(Cmp::Lt, Ty::U32, j, 2u32);
    // Byte selectors: `pair` picks bytes 2 (j & 1), 2 (j & 1) + 1 of prmt's first word,
    // `pair + 0x44` the same bytes of its second word.
    let odd = b.and(Ty::U32, j, 1u32);
    let pair = b.mul(Ty::U32, odd, 0x22u32);
    let pair = b.add(Ty::U32, pair, 0x10u32);
    let second = b.add(Ty::U32, pair, 0x44u32);
    let zero = b.mov(Ty::U32, 0u32);
    let sel_p = b.selp(Ty::U32, pair, second, is_low);
    let sel_q = b.selp(Ty::U32, second, pair, is_low);
    let mask = b.selp(Ty::U32, 0x3f3fu32, 0x0f0fu32, is_low);
    let shift = b.selp(Ty::U32, 0u32, 4u32, is_low);
    let p = b.prmt(h[1], h[3], sel_p);
    let q = b.prmt(h[1], zero, sel_q);
    let r = b.prmt(h[2], h[3], sel_p);
    let s = b.prmt(h[2], zero, sel_q);
    let high_bits = |b: &mut KernelBuilder, x: Reg| {
        let x = b.and(Ty::U32, x, 0xc0c0u32);
        b.shr(Ty::U32, x, 2u32)
    };
    let sc = b.and(Ty::U32, p, mask);
    let sc_high = high_bits(b, q);
    let sc = b.or(Ty::U32, sc, sc_high);
    let m = b.shr(Ty::U32, r, shift);
    let m = b.and(Ty::U32, m, mask);
    let m_high = high_bits(b, s);
    let m = b.or(Ty::U32, m, m_high);
    [
        b.and(Ty::U32, sc, 0xffu32),
        b.shr(Ty::U32, sc, 8u32),
        b.and(Ty::U32, m, 0xffu32),
        b.shr(Ty::U32, m, 8u32),
    ]
}

/// Chunk `j = iqs / 8` and the thread's byte offset `h16` inside its 32 `qs` bytes (also the
/// offset of its activation words inside each Q8_1 block's quants): `16 * ((iqs / 4) % 2)`,
/// 0 for 8 words.
fn chunk_and_half(b: &mut KernelBuilder, iqs: Reg) -> (Reg, Reg) {
    let j = b.shr(Ty::U32, iqs, 3u32);
    let h16 = b.shl(Ty::U32, iqs, 2u32);
    let h16 = b.and(Ty::U32, h16, 31u32);
    (j, h16)
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

    /// `[v[0][0..W], v[1][0..W], d * sc0, d * sc1, -dmin * m0, -dmin * m1]` (factors as f32),
    /// `v[i][w]` the quants of sub-block `2j + i` in word `w`; for Q4_K `v[1]` holds them
    /// times 16 (the high nibbles unshifted) and its factor is `d * sc1 / 16`. The header is
    /// one 16-byte load.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let (j, h16) = chunk_and_half(b, iqs);
        let bq8_offset = b.shl(Ty::U32, j, 1u32);
        // q offset = 32 * j + h16
        let j32 = b.shl(Ty::U32, j, 5u32);
        let q_off = b.add(Ty::U32, j32, h16);
        let w_q = offset_addr(b, w_block, q_off);
        let w_stream = src.space(Space::GlobalNcNoAllocate);
        let chunks = 0..i64::from(WORDS / 4);
        let header = b.ld_vec(src.space(Space::GlobalNc), Ty::B32, 4, Addr::reg(w_block));
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
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                (0..WORDS as usize)
                    .map(|w| {
                        let low = match (&vh, i) {
                            // Q4_K's high nibbles stay in place: 16 × the quant per byte.
                            (None, 1) => b.and(Ty::U32, vl[w], 0xF0F0_F0F0u32),
                            _ => bits(b, vl[w], 4 * i, 0x0F0F_0F0F),
                        };
                        match &vh {
                            None => low,
                            Some(vh) => {
                                let h = bits(b, vh[w], i, ONES);
                                let h = b.shl(Ty::U32, h, 4u32);
                                b.or(Ty::U32, low, h)
                            }
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // d * sc_i and -dmin * m_i as f32, once per row and visit.
        let [sc0, sc1, m0, m1] = scales_and_mins(b, &header, j);
        let (d, dmin) = b.unpack_b16x2(header[0]);
        let d = b.cvt(Ty::F32, Ty::F16, None, d);
        let dmin = b.cvt(Ty::F32, Ty::F16, None, dmin);
        let neg_dmin = b.neg(Ty::F32, dmin);
        for (factor, int) in [(d, sc0), (d, sc1), (neg_dmin, m0), (neg_dmin, m1)] {
            let f = b.cvt(Ty::F32, Ty::U32, Some(crate::builder::Round::Rn), int);
            out.push(b.mul(Ty::F32, factor, f));
        }
        if self.qh.is_none() {
            // The high nibbles' dot comes out 16× too large (exact: |16 dot| < 2^24); their
            // factor takes the 1/16 (exact: a power of two, far from subnormals), so
            // `(16 dot) * (d sc / 16)` rounds as `dot * (d sc)` does: the same bits.
            let d_sc1 = QR as usize * WORDS as usize + 1;
            out[d_sc1] = b.mul(Ty::F32, out[d_sc1], 0.0625f32);
        }
        out
    }

    /// `[u[0][0..W], u[1][0..W], d8_0, d8_1, d8_0 * sum(u[0]), d8_1 * sum(u[1])]`: the thread's
    /// words of Q8_1 blocks `2j` and `2j + 1` (16-byte loads), their `d` (one 8-byte load) and,
    /// shared by every row, the scaled byte sums that meet the mins.
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        let (j, h16) = chunk_and_half(b, iqs);
        let j64 = b.shl(Ty::U32, j, 6u32);
        let q_off = b.add(Ty::U32, j64, h16);
        let bq8_offset = b.shl(Ty::U32, j, 1u32);
        let mut u: Vec<Reg> = (0..i64::from(QR))
            .flat_map(|i| {
                (0..i64::from(WORDS / 4))
                    .flat_map(|c| x.quant_words(b, Some(q_off), i64::from(QK8_1) * i + 16 * c, 4))
                    .collect::<Vec<_>>()
            })
            .collect();
        let ds = x.scale_words(b, Some(bq8_offset), 0, 2);
        let d8: Vec<Reg> = ds.into_iter().map(|w| ds_d(b, w)).collect();
        let sums: Vec<Reg> = u
            .chunks(WORDS as usize)
            .zip(&d8)
            .map(|(words, &d8)| {
                let mut sum = Operand::Int(0);
                for &w in words {
                    sum = b.dp4a(ONES, w, sum).into();
                }
                let sum = match sum {
                    Operand::Reg(r) => to_f32(b, r),
                    _ => unreachable!("WORDS > 0"),
                };
                b.mul(Ty::F32, d8, sum)
            })
            .collect();
        u.extend(d8);
        u.extend(sums);
        u
    }

    /// `sum_i d8_i * ((d * sc_i) * dot_i) + sum_i (-dmin * m_i) * (d8_i * sum(u_i))`: ggml's
    /// `d * sumf_d - dmin * sumf_m` with the row factors and column sums hoisted out of the
    /// (row, column) loop (the same terms, rounded in another order).
    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let (words, qr) = (WORDS as usize, QR as usize);
        let (v, factors) = w.split_at(qr * words);
        let (d_sc, neg_dmin_m) = factors.split_at(qr);
        let (u, rest) = x.split_at(qr * words);
        let (d8, d8_sum_u) = rest.split_at(qr);
        let mut total: Option<Reg> = None;
        for i in 0..qr {
            let mut dot = Operand::Int(0);
            for (&vw, &uw) in v[i * words..][..words].iter().zip(&u[i * words..][..words]) {
                // Q4_K's high nibbles in place (`emit_weights`) are bytes up to 240.
                dot = if self.qh.is_none() && i == 1 {
                    b.dp4a_unsigned_a(vw, uw, dot)
                } else {
                    b.dp4a(vw, uw, dot)
                }
                .into();
            }
            let dot = match dot {
                Operand::Reg(r) => to_f32(b, r),
                _ => unreachable!("WORDS > 0"),
            };
            let scaled = b.mul(Ty::F32, dot, d_sc[i]);
            total = Some(match total {
                None => b.mul(Ty::F32, scaled, d8[i]),
                Some(t) => b.fma(Ty::F32, scaled, d8[i], t),
            });
        }
        let mut total = total.expect("QR > 0");
        for i in 0..qr {
            total = b.fma(Ty::F32, neg_dmin_m[i], d8_sum_u[i], total);
        }
        total
    }
}
