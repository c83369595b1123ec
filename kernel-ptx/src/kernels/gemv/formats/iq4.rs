//! IQ4_NL and IQ4_XS × Q8_1, as ggml-cuda's `vec_dot_iq4_nl_q8_1` (VDR 2, QI 4) and
//! `vec_dot_iq4_xs_q8_1` (VDR 4, QI 32) (ggml/src/ggml-cuda/vecdotq.cuh). A word of 4-bit
//! indices becomes two words of table bytes through `get_int_from_table_16`'s byte permutes:
//! the low nibbles (elements `4i..4i+4` of a 32-element group) and the high nibbles
//! (elements `16+4i..`), dotted with Q8_1 words `i` and `i + 4`.
//!
//! `block_iq4_nl` (18 bytes): `d` at 0, `qs[16]` at 2 (read as `u16` pairs).
//! `block_iq4_xs` (136 bytes): `d` at 0, `scales_h` (u16) at 2, `scales_l[4]` at 4, `qs[128]`
//! at 8; sub-block `ib = iqs / 4` has scale `ls - 32` with `ls` = nibble `ib % 2` of
//! `scales_l[ib / 2]` | bits `2 ib..2 ib + 2` of `scales_h` << 4.

use crate::builder::{Addr, KernelBuilder, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, WeightSource, bits, dp4a_nibble_pairs, ds_d, f16_at, int_b2, int_b4,
    nibble_pair_activations, offset_addr, to_f32,
};
use quant_formats::GgmlType;

/// ggml-common.h `kvalues_iq4nl`.
const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// The table as four little-endian words (`table32` in `get_int_from_table_16`).
fn table_words() -> [u32; 4] {
    std::array::from_fn(|w| {
        u32::from_le_bytes(std::array::from_fn(|i| KVALUES_IQ4NL[4 * w + i] as u8))
    })
}

/// `get_int_from_table_16(q4, kvalues_iq4nl)`: the table bytes of the 8 nibbles of `q4` as
/// `(low nibbles of bytes 0..4, high nibbles of bytes 0..4)`. PTX `prmt` reads the 4th bit of a
/// selector nibble as "replicate sign", so the index nibbles are masked to 3 bits and the 4th
/// bit picks between the permutes of the table's low and high halves.
fn lookup(b: &mut KernelBuilder, table: &[Reg; 4], q4: Reg) -> (Reg, Reg) {
    let low3 = b.and(Ty::U32, q4, 0x7777_7777u32);
    let high_bit = bits(b, q4, 0, 0x8888_8888);
    let high_bit = b.shr(Ty::U32, high_bit, 1u32);
    let choose = b.or(Ty::U32, high_bit, 0x3210_3210u32);
    let tmp: Vec<Reg> = [0u32, 16]
        .into_iter()
        .map(|shift| {
            let (sel, pick) = if shift == 0 {
                (low3, choose)
            } else {
                (b.shr(Ty::U32, low3, shift), b.shr(Ty::U32, choose, shift))
            };
            let low = b.prmt(table[0], table[1], sel);
            let high = b.prmt(table[2], table[3], sel);
            b.prmt(low, high, pick)
        })
        .collect();
    (
        b.prmt(tmp[0], tmp[1], 0x6420u32),
        b.prmt(tmp[0], tmp[1], 0x7531u32),
    )
}

fn table_regs(b: &mut KernelBuilder) -> [Reg; 4] {
    table_words().map(|w| b.mov(Ty::B32, w))
}

/// Offset of `qs` in `block_iq4_nl` / `block_iq4_xs`.
const QS_NL: i64 = 2;
const QS_XS: i64 = 8;

/// The table bytes of words `iqs .. iqs + count` of `qs` as `[low, high]` per word, the words at byte `qs` of the
/// block read with `load`.
fn lookup_words(
    b: &mut KernelBuilder,
    w_block: Reg,
    iqs: Reg,
    count: u32,
    qs: i64,
    load: fn(&mut KernelBuilder, Addr) -> Reg,
) -> Vec<Reg> {
    let table = table_regs(b);
    let word_offset = b.shl(Ty::U32, iqs, 2u32);
    let w_words = offset_addr(b, w_block, word_offset);
    (0..count)
        .flat_map(|l| {
            let q4 = load(b, Addr::reg_off(w_words, qs + 4 * i64::from(l)));
            let (lo, hi) = lookup(b, &table, q4);
            [lo, hi]
        })
        .collect()
}

/// `d * d8 * sumi`, `d8` the `d` of the Q8_1 `{ d, s }` word `ds`.
fn scaled_by_d8(b: &mut KernelBuilder, d: Reg, ds: Reg, sumi: Reg) -> Reg {
    let d8 = ds_d(b, ds);
    let dd = b.mul(Ty::F32, d, d8);
    let f = to_f32(b, sumi);
    b.mul(Ty::F32, dd, f)
}

pub struct Iq4Nl;
pub struct Iq4Xs;
#[allow(non_upper_case_globals)]
pub const IQ4_NL: Iq4Nl = Iq4Nl;
#[allow(non_upper_case_globals)]
pub const IQ4_XS: Iq4Xs = Iq4Xs;

impl GemvFormat for Iq4Nl {
    fn ty(&self) -> GgmlType {
        GgmlType::IQ4_NL
    }

    fn qi(&self) -> u32 {
        4
    }

    fn vdr(&self) -> u32 {
        2
    }

    /// `[low, high]` table bytes of words `iqs`, `iqs + 1`, then `d`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let mut v = lookup_words(b, w_block, iqs, self.vdr(), QS_NL, int_b2);
        v.push(f16_at(b, Addr::reg(w_block)));
        v
    }

    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        nibble_pair_activations(b, x, iqs, self.vdr() as usize)
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let n = 2 * self.vdr() as usize;
        let sumi = dp4a_nibble_pairs(b, &w[..n], &x[..n]);
        scaled_by_d8(b, w[n], x[n], sumi)
    }
}

impl GemvFormat for Iq4Xs {
    fn ty(&self) -> GgmlType {
        GgmlType::IQ4_XS
    }

    fn qi(&self) -> u32 {
        32
    }

    fn vdr(&self) -> u32 {
        4
    }

    /// `[low, high]` table bytes of words `iqs .. iqs + 4`, then the sub-block scale and `d`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        let mut v = lookup_words(b, w_block, iqs, self.vdr(), QS_XS, int_b4);
        // ls = ((scales_l[iqs / 8] >> (iqs & 4)) & 0xF) | (((scales_h >> (iqs / 2)) & 3) << 4)
        let l_index = b.shr(Ty::U32, iqs, 3u32);
        let l_addr = offset_addr(b, w_block, l_index);
        let l_byte = b.ld(Space::GlobalNc, Ty::U8, Addr::reg_off(l_addr, 4));
        let l_shift = b.and(Ty::U32, iqs, 4u32);
        let low = b.shr(Ty::U32, l_byte, l_shift);
        let low = b.and(Ty::U32, low, 0xFu32);
        let scales_h = b.ld(Space::GlobalNc, Ty::U16, Addr::reg_off(w_block, 2));
        let scales_h = b.cvt(Ty::U32, Ty::U16, None, scales_h);
        let h_shift = b.shr(Ty::U32, iqs, 1u32);
        let high = b.shr(Ty::U32, scales_h, h_shift);
        let high = b.and(Ty::U32, high, 3u32);
        let high = b.shl(Ty::U32, high, 4u32);
        let ls = b.or(Ty::U32, low, high);
        v.push(b.sub(Ty::S32, ls, 32u32));
        v.push(f16_at(b, Addr::reg(w_block)));
        v
    }

    /// All of Q8_1 block `iqs / 4` (the 32 elements of the thread's words): two 16-byte loads,
    /// then its `{ d, s }` word.
    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        let ib = b.shr(Ty::U32, iqs, 2u32);
        let q_off = b.shl(Ty::U32, iqs, 3u32);
        let mut out = x.quant_words(b, Some(q_off), 0, 4);
        out.extend(x.quant_words(b, Some(q_off), 16, 4));
        out.extend(x.scale_words(b, Some(ib), 0, 1));
        out
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let sumi = dp4a_nibble_pairs(b, &w[..8], &x[..8]);
        let sumi = b.mul(Ty::S32, sumi, w[8]);
        scaled_by_d8(b, w[9], x[8], sumi)
    }
}
