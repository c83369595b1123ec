//! The per-format part of the gemv kernel: how one thread dots its slice of a weight block with
//! the matching activations of every column. Adding a weight format is one file in `formats/`
//! implementing this trait plus one line in `format_for` (ggml-cuda's `ggml_cuda_type_traits`
//! and `get_vdr_mmvq`, ggml/src/ggml-cuda/mmvq.cu).

use super::formats;
use crate::builder::{Addr, Cmp, KernelBuilder, Operand, Reg, Space, Ty};
use quant_formats::GgmlType;

/// Quants per Q8_1 block (`QK8_1`).
pub const QK8_1: u32 = 32;
/// Bytes of one whole Q8_1 block (quants and `{ d, s }`).
pub const Q8_1_BYTES: u32 = GgmlType::Q8_1.block_bytes() as u32;
/// Bytes of one Q8_1 `{ d, s }` f16 pair in the scale plane.
pub const Q8_1_DS_BYTES: u32 = 4;

/// How a format's activations `x` are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activations {
    /// Q8_1 blocks in the planar layout of `quant_formats::q8_1_to_planes`: quants `[m, k]` i8,
    /// then `{ d, s }` f16 pairs `[m, k / 32]`.
    Q8_1Planes,
    /// f32 `[m, k]`.
    F32,
}

/// A weight format the gemv kernel can stream (ggml-cuda's `ggml_cuda_type_traits` + `vec_dot_*_q8_1`).
///
/// One thread's share of a block visit is split in three so the body loads each row's weights
/// and each column's activations once: `emit_weights` per row, `emit_activations` per column,
/// `emit_dot` per (row, column) on the registers the first two return.
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

    /// The activation layout: Q8_1 planes for integer formats.
    fn activations(&self) -> Activations {
        Activations::Q8_1Planes
    }

    /// Bytes of one column's activations covering one kernel block (both planes for Q8_1).
    fn act_block_bytes(&self) -> u32 {
        match self.activations() {
            Activations::Q8_1Planes => self.qk() / QK8_1 * Q8_1_BYTES,
            Activations::F32 => self.qk() * 4,
        }
    }

    /// QI: 32-bit words of quants per weight block (ggml's `QI*`, e.g. `QI8_0 = 8`).
    fn qi(&self) -> u32;

    /// VDR ("vec dot ratio"): words a thread consumes per block visit (ggml's `VDR_*_MMVQ`).
    /// `qi / vdr` threads share one block; it must be a power of two.
    fn vdr(&self) -> u32;

    /// True when `emit_weights` honours [`WeightSource::Shared`], so the body may stage this
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

    /// Loads thread `iqs`'s slice of the weight block at `w_block` (a u64 address in the space
    /// `src` names) and decodes it into the registers `emit_dot` reads.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg>;

    /// Loads thread `iqs`'s activations of one column for the block at `x`.
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg>;

    /// The thread's f32 partial dot of one row's decoded weights with one column's activations.
    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg;
}

/// One column's activations covering one kernel block.
#[derive(Clone, Copy, Debug)]
pub struct ActBlock {
    /// The block's first activation: its first quant in the Q8_1 quant plane, or an f32.
    pub quants: Reg,
    /// The `{ d, s }` pair of its first Q8_1 block in the scale plane (float formats: `quants`).
    pub scales: Reg,
}

impl ActBlock {
    /// `count` (1, 2 or 4) consecutive quant words at byte `offset + imm` of the block, one
    /// load. The caller guarantees `4 * count`-byte alignment (the planes are 16-byte aligned
    /// when `x` is and `k` is a multiple of 128; 32-element runs are always 32-byte aligned).
    pub fn quant_words(
        self,
        b: &mut KernelBuilder,
        offset: Option<Reg>,
        imm: i64,
        count: usize,
    ) -> Vec<Reg> {
        let base = offset.map_or(self.quants, |o| offset_addr(b, self.quants, o));
        let addr = Addr::reg_off(base, imm);
        if count == 1 {
            vec![b.ld(Space::GlobalNc, Ty::B32, addr)]
        } else {
            b.ld_vec(Space::GlobalNc, Ty::B32, count, addr)
        }
    }

    /// `count` (1, 2 or 4) consecutive `{ d, s }` words from Q8_1 block `index + imm` of the
    /// block's first, one load (alignment as for [`ActBlock::quant_words`]).
    pub fn scale_words(
        self,
        b: &mut KernelBuilder,
        index: Option<Reg>,
        imm: i64,
        count: usize,
    ) -> Vec<Reg> {
        let base = match index {
            Some(i) => b.index_addr(self.scales, i, Q8_1_DS_BYTES),
            None => self.scales,
        };
        let addr = Addr::reg_off(base, imm * i64::from(Q8_1_DS_BYTES));
        if count == 1 {
            vec![b.ld(Space::GlobalNc, Ty::B32, addr)]
        } else {
            b.ld_vec(Space::GlobalNc, Ty::B32, count, addr)
        }
    }
}

/// Where the `{ d, s }` plane of planar Q8_1 activations `[m, k]` at `x` starts (after the `m`
/// columns' quants, `quant_formats::q8_1_to_planes`), and the bytes of one column's row in it.
pub fn q8_1_scale_plane(b: &mut KernelBuilder, x: Reg, k: Reg, m: u32) -> (Reg, Reg) {
    let quant_plane_bytes = b.mul_wide(Ty::U32, k, m);
    let plane = b.add(Ty::U64, x, quant_plane_bytes);
    let column_blocks = b.shr(Ty::U32, k, QK8_1.trailing_zeros());
    let column_bytes = b.mul(Ty::U32, column_blocks, Q8_1_DS_BYTES);
    (plane, column_bytes)
}

/// The `{ d, s }` words of the `subs` Q8_1 blocks of super-block `sb` (`subs` blocks each) in
/// one column's scale-plane row at `scales` (u64), in 16-byte loads.
pub fn super_block_ds_words(b: &mut KernelBuilder, scales: Reg, sb: Reg, subs: usize) -> Vec<Reg> {
    let base = b.index_addr(scales, sb, subs as u32 * Q8_1_DS_BYTES);
    (0..subs.div_ceil(4) as i64)
        .flat_map(|c| b.ld_vec(Space::GlobalNc, Ty::B32, 4, Addr::reg_off(base, 16 * c)))
        .take(subs)
        .collect()
}

/// `d` (the low half) of a `{ d, s }` word, as f32.
pub fn ds_d(b: &mut KernelBuilder, ds: Reg) -> Reg {
    let (d, _) = b.unpack_b16x2(ds);
    b.cvt(Ty::F32, Ty::F16, None, d)
}

/// `(d, s)` of a `{ d, s }` word, as f32.
pub fn ds_pair(b: &mut KernelBuilder, ds: Reg) -> (Reg, Reg) {
    let (d, s) = b.unpack_b16x2(ds);
    (
        b.cvt(Ty::F32, Ty::F16, None, d),
        b.cvt(Ty::F32, Ty::F16, None, s),
    )
}

/// Where the weight block handed to [`GemvFormat::emit_weights`] lives.
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

/// `count` consecutive words at the 2-byte-aligned global `addr` (u64): the `count` aligned
/// words from `addr & !3` and, when `addr` is not 4-byte aligned, the two bytes after them,
/// funnel-shifted into place. About one load per word instead of [`int_b2`]'s two, and no
/// byte outside the wanted ones' aligned words is read.
pub fn unaligned_words(b: &mut KernelBuilder, addr: Reg, count: usize) -> Vec<Reg> {
    let low = b.cvt(Ty::U32, Ty::U64, None, addr);
    let misalignment = b.and(Ty::U32, low, 2u32);
    let shift = b.shl(Ty::U32, misalignment, 3u32);
    let base = b.and(Ty::B64, addr, !3u64);
    let mut words: Vec<Reg> = (0..count as i64)
        .map(|i| b.ld(Space::GlobalNc, Ty::B32, Addr::reg_off(base, 4 * i)))
        .collect();
    let misaligned = b.setp(Cmp::Ne, Ty::U32, misalignment, 0u32);
    let extra = b.mov(Ty::B32, 0u32);
    b.predicated(misaligned, false, |b| {
        let half = b.ld(
            Space::GlobalNc,
            Ty::U16,
            Addr::reg_off(base, 4 * count as i64),
        );
        let half = b.cvt(Ty::U32, Ty::U16, None, half);
        b.mov_to(extra, half);
    });
    words.push(extra);
    (0..count)
        .map(|i| b.shf_r(words[i], words[i + 1], shift))
        .collect()
}

/// `count` consecutive words at the 2-byte-aligned `addr` (u64) of a weight block in `src`:
/// [`unaligned_words`] from global memory; from a staged tile (whose last word may end the
/// array), two `u16` halves each ([`int_b2_in`]).
pub fn b2_words(b: &mut KernelBuilder, src: WeightSource, addr: Reg, count: usize) -> Vec<Reg> {
    match src {
        WeightSource::Global => unaligned_words(b, addr, count),
        WeightSource::Shared => (0..count as i64)
            .map(|i| int_b2_in(b, Space::Shared, Addr::reg_off(addr, 4 * i)))
            .collect(),
    }
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

/// `sum_l dp4a(v[l].0, u[l]) + dp4a(v[l].1, u[l + n])` for `n = v.len()` in `l` order: the
/// low-nibble quants of word `l` meet activation word `l`, the high nibbles word `l + n`
/// (`vec_dot_q4_0_q8_1_impl` and kin, where `u` holds the two 16-byte halves of a Q8_1 block's
/// `qs` slice).
pub fn dp4a_nibble_pairs(b: &mut KernelBuilder, v: &[Reg], u: &[Reg]) -> Reg {
    let n = v.len() / 2;
    let mut sumi = Operand::Int(0);
    for l in 0..n {
        let s = b.dp4a(v[2 * l], u[l], sumi);
        sumi = b.dp4a(v[2 * l + 1], u[l + n], s).into();
    }
    match sumi {
        Operand::Reg(r) => r,
        _ => unreachable!("at least one word"),
    }
}

/// Activations of a 32-element nibble format's thread with `vdr` words at word `iqs` (a
/// multiple of `vdr`): quant words `iqs..iqs + vdr` (low nibbles) and the same 16 bytes on
/// (high nibbles), one vector load each, then the block's `{ d, s }` word.
pub fn nibble_pair_activations(
    b: &mut KernelBuilder,
    x: ActBlock,
    iqs: Reg,
    vdr: usize,
) -> Vec<Reg> {
    let word_offset = b.shl(Ty::U32, iqs, 2u32);
    let mut out = x.quant_words(b, Some(word_offset), 0, vdr);
    out.extend(x.quant_words(b, Some(word_offset), 16, vdr));
    out.extend(x.scale_words(b, None, 0, 1));
    out
}

/// Thread `iqs`'s activations for the K-quants whose 16 words per block meet four Q8_1
/// blocks (Q2_K, Q3_K): words `iqs % 8 .. + words` of Q8_1 blocks `4 * (iqs / 8) + i` for
/// `i` in 0..4 (`words` 1, 2 or 4 consecutive, one load each), then the four blocks' `{ d, s }`.
pub fn k_quant_activations(b: &mut KernelBuilder, x: ActBlock, iqs: Reg, words: usize) -> Vec<Reg> {
    let group = b.shr(Ty::U32, iqs, 3u32);
    let bq8_offset = b.shl(Ty::U32, group, 2u32);
    let iqs8 = b.and(Ty::U32, iqs, 7u32);
    let block_bytes = b.shl(Ty::U32, bq8_offset, QK8_1.trailing_zeros());
    let word = b.shl(Ty::U32, iqs8, 2u32);
    let q_off = b.add(Ty::U32, block_bytes, word);
    let mut out: Vec<Reg> = (0..4)
        .flat_map(|i| x.quant_words(b, Some(q_off), i64::from(QK8_1) * i, words))
        .collect();
    out.extend(x.scale_words(b, Some(bq8_offset), 0, 4));
    out
}

/// Sums `term(i)` for `i` in `0..count` in order, `N` sums at once.
pub fn sum_terms<const N: usize>(
    b: &mut KernelBuilder,
    count: usize,
    mut term: impl FnMut(&mut KernelBuilder, usize) -> [Reg; N],
) -> [Reg; N] {
    let mut sums = term(b, 0);
    for i in 1..count {
        let t = term(b, i);
        sums = std::array::from_fn(|k| b.add(Ty::F32, sums[k], t[k]));
    }
    sums
}

/// `d * sumf_d - dmin * sumf_m`: the result of the K-quants with mins (`dm = {d, dmin}` in
/// `vec_dot_q2_K_q8_1_impl_mmvq`, `vec_dot_q4_K_q8_1_impl_vmmq`).
pub fn scaled_minus_mins(b: &mut KernelBuilder, dm: (Reg, Reg), sumf_d: Reg, sumf_m: Reg) -> Reg {
    let a = b.mul(Ty::F32, dm.0, sumf_d);
    let c = b.mul(Ty::F32, dm.1, sumf_m);
    b.sub(Ty::F32, a, c)
}
