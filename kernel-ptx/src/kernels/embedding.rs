//! Embedding-row gather with dequantisation: `out[t, :] = dequant(table[ids[t], :])`.
//! table `[vocab, n]` in GGUF blocks; ids u32 `[tokens]`; out f32 `[tokens, n]`. An id outside
//! the vocabulary writes NaN (visible downstream, never an out-of-bounds read).
//! Per-element maths mirror ggml-quants.c `dequantize_row_*` with the same operation order, so
//! results are bit-identical to the CPU reference. One thread per element, grid `(⌈n/256⌉, tokens)`.

use crate::builder::{Addr, Cmp, Kernel, KernelBuilder, Reg, Round, Space, Special, Ty};
use crate::kernel_type::div_ceil;
use crate::{KernelError, LaunchDims, LaunchGeometry, Param, SmTarget};
use quant_formats::GgmlType;

const THREADS: u32 = 256;

/// Table formats the gather supports.
pub const FORMATS: [GgmlType; 6] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

pub const PARAMS: &[Param; 5] = &[
    Param::ptr("table"),
    Param::ptr("ids"),
    Param::ptr("out"),
    Param::u32("n"),
    Param::u32("vocab"),
];

/// One gather variant; `new` admits only `FORMATS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Embedding {
    format: GgmlType,
    target: SmTarget,
}

impl Embedding {
    pub fn new(format: GgmlType, target: SmTarget) -> Result<Self, KernelError> {
        if FORMATS.contains(&format) {
            Ok(Embedding { format, target })
        } else {
            Err(KernelError::UnsupportedFormat {
                family: "embedding",
                format,
            })
        }
    }

    pub fn format(&self) -> GgmlType {
        self.format
    }

    pub fn target(&self) -> SmTarget {
        self.target
    }

    pub(crate) fn with_target(self, target: SmTarget) -> Self {
        Embedding { target, ..self }
    }

    /// `embedding_<format>`, e.g. `embedding_q4_k`.
    pub fn entry_name(&self) -> String {
        format!("embedding_{}", self.format.name().to_ascii_lowercase())
    }

    /// Reads `dims.rows` (tokens) and `dims.n` (row length, a multiple of the block size).
    pub(crate) fn launch(&self, dims: &LaunchDims) -> Result<LaunchGeometry, String> {
        let block = self.format.block_elems() as u32;
        if dims.rows == 0 || dims.n == 0 || !dims.n.is_multiple_of(block) {
            return Err(format!(
                "tokens must be positive and n a positive multiple of {block}"
            ));
        }
        let row_bytes = u64::from(dims.n / block) * self.format.block_bytes() as u64;
        if row_bytes > u64::from(u32::MAX) || dims.rows.checked_mul(dims.n).is_none() {
            return Err("row or output too large for 32-bit indexing".into());
        }
        Ok(LaunchGeometry {
            grid: [div_ceil(dims.n, THREADS), dims.rows, 1],
            block: [THREADS, 1, 1],
            dynamic_shared_bytes: 0,
        })
    }

    pub(crate) fn build(&self, name: &str) -> Kernel {
        let (mut b, [table, ids, out, n, vocab]) =
            KernelBuilder::entry(name, self.target, THREADS, PARAMS);
        let tid = b.mov(Ty::U32, Special::TidX);
        let cta = b.mov(Ty::U32, Special::CtaidX);
        let token = b.mov(Ty::U32, Special::CtaidY);
        let col = b.mad_lo(Ty::U32, cta, THREADS, tid);
        let outside = b.setp(Cmp::Ge, Ty::U32, col, n);
        let done = b.label("done");
        b.bra_if(outside, false, &done);
        let ia = b.index_addr(ids, token, 4);
        let id = b.ld(Space::GlobalNc, Ty::U32, Addr::reg(ia));
        let out_index = b.mad_lo(Ty::U32, token, n, col);
        let oa = b.index_addr(out, out_index, 4);
        let bad_id = b.setp(Cmp::Ge, Ty::U32, id, vocab);
        let good = b.label("good_id");
        b.bra_if(bad_id, true, &good);
        b.st(Space::Global, Ty::F32, Addr::reg(oa), f32::NAN);
        b.ret();
        b.place(&good);

        let block_elems = self.format.block_elems() as u32;
        let blocks_per_row = b.shr(Ty::U32, n, block_elems.trailing_zeros());
        let row_bytes = b.mul(Ty::U32, blocks_per_row, self.format.block_bytes() as u32);
        let row_off = b.mul_wide(Ty::U32, id, row_bytes);
        let row = b.add(Ty::U64, table, row_off);
        let blk = b.shr(Ty::U32, col, block_elems.trailing_zeros());
        let e = b.and(Ty::U32, col, block_elems - 1);
        let block = b.index_addr(row, blk, self.format.block_bytes() as u32);
        let v = match self.format {
            GgmlType::F32 => b.ld(Space::GlobalNc, Ty::F32, Addr::reg(block)),
            GgmlType::F16 | GgmlType::BF16 => {
                let h = b.ld(Space::GlobalNc, Ty::B16, Addr::reg(block));
                let from = if self.format == GgmlType::F16 {
                    Ty::F16
                } else {
                    Ty::Bf16
                };
                b.cvt(Ty::F32, from, None, h)
            }
            GgmlType::Q8_0 => q8_0(&mut b, block, e),
            GgmlType::Q4_K => q4_k(&mut b, block, e),
            GgmlType::Q6_K => q6_k(&mut b, block, e),
            other => unreachable!("Embedding::new rejects {other}"),
        };
        b.st(Space::Global, Ty::F32, Addr::reg(oa), v);
        b.place(&done);
        b.ret();
        b.finish()
    }
}

/// Loads a `f16` at `addr + offset` as f32.
fn half_at(b: &mut KernelBuilder, addr: Reg, offset: i64) -> Reg {
    let h = b.ld(Space::GlobalNc, Ty::B16, Addr::reg_off(addr, offset));
    b.cvt(Ty::F32, Ty::F16, None, h)
}

/// Loads byte `index` (u32 register) at `base + offset`, zero-extended (`signed`: sign-extended).
fn byte_at(b: &mut KernelBuilder, base: Reg, offset: i64, index: Reg, signed: bool) -> Reg {
    let a = b.add_offset(base, index);
    b.ld(
        Space::GlobalNc,
        if signed { Ty::S8 } else { Ty::U8 },
        Addr::reg_off(a, offset),
    )
}

/// `block_q8_0 { d: f16, qs: [i8; 32] }`: `y = qs[e] * d`.
fn q8_0(b: &mut KernelBuilder, block: Reg, e: Reg) -> Reg {
    let d = half_at(b, block, 0);
    let q = byte_at(b, block, 2, e, true);
    let qf = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), q);
    b.mul(Ty::F32, qf, d)
}

/// `block_q4_K { d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128] }`, ggml's
/// `dequantize_row_q4_K` + `get_scale_min_k4`: element e is in 64-group `c = e/64`, half
/// `hi = (e%64)/32`, byte `qs[32c + e%32]` (low nibble for hi = 0), sub-block `j = 2c + hi`;
/// `y = (d * sc_j) * q - dmin * m_j`.
fn q4_k(b: &mut KernelBuilder, block: Reg, e: Reg) -> Reg {
    let d = half_at(b, block, 0);
    let dmin = half_at(b, block, 2);
    let c = b.shr(Ty::U32, e, 6u32);
    let hi = b.bfe(Ty::U32, e, 5u32, 1u32);
    let l = b.and(Ty::U32, e, 31u32);
    let j = b.mad_lo(Ty::U32, c, 2u32, hi);
    let qi = b.mad_lo(Ty::U32, c, 32u32, l);
    let byte = byte_at(b, block, 16, qi, false);
    let shift = b.shl(Ty::U32, hi, 2u32);
    let nib = b.shr(Ty::U32, byte, shift);
    let q = b.and(Ty::U32, nib, 0xfu32);
    // get_scale_min_k4: j < 4: sc = s[j] & 63, m = s[j+4] & 63;
    // else sc = (s[j+4] & 0xF) | ((s[j-4] >> 6) << 4), m = (s[j+4] >> 4) | ((s[j] >> 6) << 4).
    let scales = b.add(Ty::U64, block, 4u64);
    let low = b.setp(Cmp::Lt, Ty::U32, j, 4u32);
    let s_j = byte_at(b, scales, 0, j, false);
    let j4 = b.and(Ty::U32, j, 3u32);
    let s_j_plus4 = byte_at(b, scales, 4, j4, false);
    let s_j_minus4 = byte_at(b, scales, 0, j4, false);
    let sc_low = b.and(Ty::U32, s_j, 63u32);
    let m_low = b.and(Ty::U32, s_j_plus4, 63u32);
    // For j >= 4, "s[j+4]" is s[8 + (j-4)] and "s[j-4]" is s[j & 3].
    let s_hi = byte_at(b, scales, 8, j4, false);
    let top_sc = b.shr(Ty::U32, s_j_minus4, 6u32);
    let top_sc = b.shl(Ty::U32, top_sc, 4u32);
    let sc_lo4 = b.and(Ty::U32, s_hi, 0xfu32);
    let sc_high = b.or(Ty::U32, sc_lo4, top_sc);
    let top_m = b.shr(Ty::U32, s_j, 6u32);
    let top_m = b.shl(Ty::U32, top_m, 4u32);
    let m_hi4 = b.shr(Ty::U32, s_hi, 4u32);
    let m_high = b.or(Ty::U32, m_hi4, top_m);
    let sc = b.selp(Ty::U32, sc_low, sc_high, low);
    let m = b.selp(Ty::U32, m_low, m_high, low);
    let sc_f = b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), sc);
    let m_f = b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), m);
    let q_f = b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), q);
    let d1 = b.mul(Ty::F32, d, sc_f);
    let m1 = b.mul(Ty::F32, dmin, m_f);
    let dq = b.mul(Ty::F32, d1, q_f);
    b.sub(Ty::F32, dq, m1)
}

/// `block_q6_K { ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 }`, ggml's
/// `dequantize_row_q6_K`: element e is in half `h = e/128`, quarter `t = (e%128)/32`, lane
/// `l = e%32`; `q = ((ql[64h + 32(t&1) + l] >> 4(t>>1)) & 0xF) | (((qh[32h + l] >> 2t) & 3) << 4)`,
/// `y = (d * scales[8h + l/16 + 2t]) * (q - 32)`.
fn q6_k(b: &mut KernelBuilder, block: Reg, e: Reg) -> Reg {
    let d = half_at(b, block, 208);
    let h = b.shr(Ty::U32, e, 7u32);
    let t = b.bfe(Ty::U32, e, 5u32, 2u32);
    let l = b.and(Ty::U32, e, 31u32);
    let t_odd = b.and(Ty::U32, t, 1u32);
    let ql_i = b.mad_lo(Ty::U32, h, 64u32, l);
    let ql_i = b.mad_lo(Ty::U32, t_odd, 32u32, ql_i);
    let ql = byte_at(b, block, 0, ql_i, false);
    let t_high = b.shr(Ty::U32, t, 1u32);
    let ql_shift = b.shl(Ty::U32, t_high, 2u32);
    let ql_bits = b.shr(Ty::U32, ql, ql_shift);
    let ql_bits = b.and(Ty::U32, ql_bits, 0xfu32);
    let qh_i = b.mad_lo(Ty::U32, h, 32u32, l);
    let qh = byte_at(b, block, 128, qh_i, false);
    let qh_shift = b.shl(Ty::U32, t, 1u32);
    let qh_bits = b.shr(Ty::U32, qh, qh_shift);
    let qh_bits = b.and(Ty::U32, qh_bits, 3u32);
    let qh_bits = b.shl(Ty::U32, qh_bits, 4u32);
    let q = b.or(Ty::U32, ql_bits, qh_bits);
    let q = b.sub(Ty::S32, q, 32i32);
    let sub = b.shr(Ty::U32, l, 4u32);
    let sc_i = b.mad_lo(Ty::U32, h, 8u32, sub);
    let sc_i = b.mad_lo(Ty::U32, t, 2u32, sc_i);
    let sc = byte_at(b, block, 192, sc_i, true);
    let sc_f = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sc);
    let q_f = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), q);
    let ds = b.mul(Ty::F32, d, sc_f);
    b.mul(Ty::F32, ds, q_f)
}
