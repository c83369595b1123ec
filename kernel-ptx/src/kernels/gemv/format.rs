//! The per-format part of the gemv kernel: how one thread dots its slice of a weight block with
//! the matching activations of every column. Adding a weight format is one file in `formats/`
//! implementing this trait plus one line in `format_for` (ggml-cuda's `ggml_cuda_type_traits`
//! and `get_vdr_mmvq`, ggml/src/ggml-cuda/mmvq.cu).

use super::formats;
use crate::builder::{Addr, KernelBuilder, Operand, Reg, Space, Ty};
use quant_formats::GgmlType;

/// Bytes of one Q8_1 activation block (`block_q8_1 = { d: f16, s: f16, qs: [i8; 32] }`).
pub const Q8_1_BYTES: u32 = GgmlType::Q8_1.block_bytes() as u32;
/// Offset of `qs` in `block_q8_1`.
pub const Q8_1_QS: i64 = 4;

/// A weight format the gemv kernel can stream (ggml-cuda's `ggml_cuda_type_traits` + `vec_dot_*_q8_1`).
pub trait GemvFormat: Sync {
    /// The GGUF type of the weights.
    fn ty(&self) -> GgmlType;

    /// Elements per kernel block: the GGUF block for integer formats, a 16-byte chunk for floats.
    fn qk(&self) -> u32 {
        self.ty().block_elems() as u32
    }

    /// Bytes per kernel block.
    fn block_bytes(&self) -> u32 {
        self.qk() / self.ty().block_elems() as u32 * self.ty().block_bytes() as u32
    }

    /// Bytes of one column's activations covering one kernel block: `qk / 32` Q8_1 blocks for
    /// integer formats, `qk` f32 for float formats.
    fn act_block_bytes(&self) -> u32 {
        self.qk() / 32 * Q8_1_BYTES
    }

    /// QI: 32-bit words of quants per weight block (ggml's `QI*`, e.g. `QI8_0 = 8`).
    fn qi(&self) -> u32;

    /// VDR ("vec dot ratio"): words a thread consumes per block visit (ggml's `VDR_*_MMVQ`).
    /// `qi / vdr` threads share one block; it must be a power of two.
    fn vdr(&self) -> u32;

    /// True when `emit_vec_dot` honours [`WeightSource::Shared`], so the body may stage this
    /// format's rows through shared memory.
    fn stages_weights(&self) -> bool {
        false
    }

    /// Most accumulators (columns × rows × weight matrices) for which the body unrolls the K
    /// loop twice (both visits' loads live at once).
    fn max_unrolled_accumulators(&self) -> usize {
        16
    }

    /// Default `(warps, rows per block)`, the same for every M so results are batch-invariant.
    fn default_geometry(&self) -> (u8, u8) {
        (4, 2)
    }

    /// Emits the partial dot product of words `iqs .. iqs + vdr` of the weight block at
    /// `w_block` (a u64 address in the space `src` names) with each column's activations. `x_blocks[j]` is the
    /// address of column j's activations covering this weight block. Weights are loaded once
    /// and reused for every column. Returns one f32 per column.
    fn emit_vec_dot(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        x_blocks: &[Reg],
        iqs: Reg,
    ) -> Vec<Reg>;
}

/// Where the weight block handed to [`GemvFormat::emit_vec_dot`] lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightSource {
    /// Global memory, read through the non-coherent path the format chooses.
    Global,
    /// A shared-memory tile the body staged (a 64-bit shared-window address).
    Shared,
}

impl WeightSource {
    /// `global` for [`WeightSource::Global`], `.shared` for a staged tile.
    pub fn space(self, global: Space) -> Space {
        match self {
            WeightSource::Global => global,
            WeightSource::Shared => Space::Shared,
        }
    }
}

/// The gemv implementation for `ty`, if one exists.
pub fn format_for(ty: GgmlType) -> Option<&'static dyn GemvFormat> {
    use formats::*;
    Some(match ty {
        GgmlType::F32 => &float::F32,
        GgmlType::F16 => &float::F16,
        GgmlType::BF16 => &float::BF16,
        GgmlType::Q4_0 => &legacy::Q4_0,
        GgmlType::Q4_1 => &legacy::Q4_1,
        GgmlType::Q5_0 => &legacy::Q5_0,
        GgmlType::Q5_1 => &legacy::Q5_1,
        GgmlType::Q8_0 => &q8_0::Q8_0,
        GgmlType::Q2_K => &q2_k::Q2_K,
        GgmlType::Q3_K => &q3_k::Q3_K,
        GgmlType::Q4_K => &q4_k::Q4_K,
        GgmlType::Q5_K => &q4_k::Q5_K,
        GgmlType::Q6_K => &q6_k::Q6_K,
        GgmlType::IQ4_NL => &iq4::IQ4_NL,
        GgmlType::IQ4_XS => &iq4::IQ4_XS,
        GgmlType::Q8_1 | GgmlType::Q8_K => return None,
    })
}

/// ggml's `get_int_b4`: the 4-byte-aligned word at `addr`.
pub fn int_b4(b: &mut KernelBuilder, addr: Addr) -> Reg {
    b.ld(Space::GlobalNc, Ty::B32, addr)
}

/// ggml's `get_int_b2`: the word at a 2-byte-aligned global `addr`, read as two `u16` halves.
pub fn int_b2(b: &mut KernelBuilder, addr: Addr) -> Reg {
    int_b2_in(b, Space::GlobalNc, addr)
}

/// [`int_b2`] in `space`.
pub fn int_b2_in(b: &mut KernelBuilder, space: Space, addr: Addr) -> Reg {
    let lo = b.ld(space, Ty::B16, addr.clone());
    let hi = b.ld(space, Ty::B16, addr.offset(2));
    b.pack_b16x2(lo, hi)
}

/// An f16 at global `addr`, widened to f32.
pub fn f16_at(b: &mut KernelBuilder, addr: Addr) -> Reg {
    f16_in(b, Space::GlobalNc, addr)
}

/// [`f16_at`] in `space`.
pub fn f16_in(b: &mut KernelBuilder, space: Space, addr: Addr) -> Reg {
    let h = b.ld(space, Ty::B16, addr);
    b.cvt(Ty::F32, Ty::F16, None, h)
}

/// The two f16 halves of the 4-byte word at global `addr` (`half2` fields such as `dm`), as f32.
pub fn half2_at(b: &mut KernelBuilder, addr: Addr) -> (Reg, Reg) {
    half2_in(b, Space::GlobalNc, addr)
}

/// The two f16 halves of the 4-byte word at `addr` in `space` (`half2` fields such as `dm`),
/// as f32.
pub fn half2_in(b: &mut KernelBuilder, space: Space, addr: Addr) -> (Reg, Reg) {
    let word = b.ld(space, Ty::B32, addr);
    let (lo, hi) = b.unpack_b16x2(word);
    (
        b.cvt(Ty::F32, Ty::F16, None, lo),
        b.cvt(Ty::F32, Ty::F16, None, hi),
    )
}

/// `(x >> shift) & mask` on u32.
pub fn bits(b: &mut KernelBuilder, x: Reg, shift: u32, mask: u32) -> Reg {
    let shifted = if shift == 0 {
        x
    } else {
        b.shr(Ty::U32, x, shift)
    };
    b.and(Ty::U32, shifted, mask)
}

/// `base + offset` for a 64-bit address and a u32 register offset.
pub fn offset_addr(b: &mut KernelBuilder, base: Reg, offset: Reg) -> Reg {
    b.add_offset(base, offset)
}

/// `dp4a(a, b, 0)`.
pub fn dp4a0(b: &mut KernelBuilder, a: impl Into<Operand>, u: Reg) -> Reg {
    b.dp4a(a, u, 0u32)
}

/// An s32 converted to f32 (round to nearest, exact below 2^24).
pub fn to_f32(b: &mut KernelBuilder, i: Reg) -> Reg {
    b.cvt(Ty::F32, Ty::S32, Some(crate::builder::Round::Rn), i)
}

/// The lane offsets of the K-quant dots where sixteen threads share a block (ggml-cuda's
/// `vec_dot_q2_K_q8_1` / `vec_dot_q3_K_q8_1`).
pub struct KQuantLane {
    /// `qr * (iqs / 8)`: the first Q8_1 block this thread's word meets.
    pub bq8_offset: Reg,
    /// `iqs % 8`: the word within each Q8_1 block.
    pub iqs8: Reg,
    /// `iqs - iqs % 8 + (iqs % 8) / 4`: the first sub-block scale.
    pub scale_offset: Reg,
    /// `w_block + 4 * iqs`: word `iqs` of the block (add the quants' field offset).
    pub w_word: Reg,
}

/// [`KQuantLane`] of thread `iqs` for the block at `w_block`, `qr` quants per byte group.
pub fn k_quant_lane(b: &mut KernelBuilder, w_block: Reg, iqs: Reg, qr: u32) -> KQuantLane {
    let group = b.shr(Ty::U32, iqs, 3u32);
    let bq8_offset = b.mul(Ty::U32, group, qr);
    let iqs8 = b.and(Ty::U32, iqs, 7u32);
    let upper = b.and(Ty::U32, iqs, !7u32);
    let half = b.shr(Ty::U32, iqs8, 2u32);
    let scale_offset = b.add(Ty::U32, upper, half);
    let word_offset = b.shl(Ty::U32, iqs, 2u32);
    let w_word = offset_addr(b, w_block, word_offset);
    KQuantLane {
        bq8_offset,
        iqs8,
        scale_offset,
        w_word,
    }
}

/// Q8_1 block `block` bytes past `xb`, the thread's words starting `x_word` bytes into its `qs`.
#[derive(Clone, Copy)]
pub struct Q8_1Slot {
    xb: Reg,
    xw: Reg,
    block: i64,
}

impl Q8_1Slot {
    /// The thread's activation word `w` of this block.
    pub fn word(self, b: &mut KernelBuilder, w: i64) -> Reg {
        int_b4(b, Addr::reg_off(self.xw, self.block + Q8_1_QS + 4 * w))
    }

    /// The block's `d` as f32.
    pub fn d(self, b: &mut KernelBuilder) -> Reg {
        f16_at(b, Addr::reg_off(self.xb, self.block))
    }
}

/// One column's `N` sums `sum_i term(i, slot_i)` over `count` Q8_1 blocks `stride` bytes apart
/// from `x_block + x_blocks_off`, the thread's words at byte `x_word` of each `qs`. The sums
/// accumulate in term order.
pub fn sum_over_q8_1<const N: usize>(
    b: &mut KernelBuilder,
    x_block: Reg,
    x_blocks_off: Reg,
    x_word: Reg,
    count: usize,
    stride: i64,
    mut term: impl FnMut(&mut KernelBuilder, usize, Q8_1Slot) -> [Reg; N],
) -> [Reg; N] {
    let xb = offset_addr(b, x_block, x_blocks_off);
    let xw = offset_addr(b, xb, x_word);
    let mut sums: Option<[Reg; N]> = None;
    for i in 0..count {
        let block = stride * i as i64;
        let terms = term(b, i, Q8_1Slot { xb, xw, block });
        sums = Some(match sums {
            None => terms,
            Some(acc) => std::array::from_fn(|k| b.add(Ty::F32, acc[k], terms[k])),
        });
    }
    sums.expect("count > 0")
}

/// `sum_l dp4a(v[l].0, u[l]) + dp4a(v[l].1, u[l + 4])`, `u[w]` the Q8_1 `qs` word `w` counted
/// from `x_words` (a block address plus `4 * iqs`): the low-nibble quants of word `l` meet
/// activation word `l`, the high nibbles word `l + 4` (`vec_dot_q4_0_q8_1_impl` and kin).
pub fn dp4a_nibble_pairs(b: &mut KernelBuilder, v: &[(Reg, Reg)], x_words: Reg) -> Reg {
    let mut sumi = Operand::Int(0);
    for (l, &(vx, vy)) in v.iter().enumerate() {
        let off = Q8_1_QS + 4 * l as i64;
        let u0 = int_b4(b, Addr::reg_off(x_words, off));
        let u1 = int_b4(b, Addr::reg_off(x_words, off + 16));
        let s = b.dp4a(vx, u0, sumi);
        sumi = b.dp4a(vy, u1, s).into();
    }
    match sumi {
        Operand::Reg(r) => r,
        _ => unreachable!("at least one word"),
    }
}

/// `d * sumf_d - dmin * sumf_m`: the result of the K-quants with mins (`dm = {d, dmin}` in
/// `vec_dot_q2_K_q8_1_impl_mmvq`, `vec_dot_q4_K_q8_1_impl_vmmq`).
pub fn scaled_minus_mins(b: &mut KernelBuilder, dm: (Reg, Reg), sumf_d: Reg, sumf_m: Reg) -> Reg {
    let a = b.mul(Ty::F32, dm.0, sumf_d);
    let c = b.mul(Ty::F32, dm.1, sumf_m);
    b.sub(Ty::F32, a, c)
}
