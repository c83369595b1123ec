//! Q3_K × Q8_1, as ggml-cuda's `vec_dot_q3_K_q8_1` with `vec_dot_q3_K_q8_1_impl_mmvq`
//! (ggml/src/ggml-cuda/vecdotq.cuh). VDR 1, QI 16: sixteen threads share a block.
//!
//! `block_q3_K` (110 bytes, so words are read as `u16` pairs): `hmask[32]` at 0, `qs[64]` at
//! 32, `scales[12]` at 96, `d` at 108. Word `iqs` of `qs` holds the low 2 bits of elements
//! `128 * (iqs / 8) + 32 * i + 4 * (iqs % 8) + 0..4` at bit `2i`; their high bits sit in word
//! `iqs % 8` of `hmask` at bit `4 * (iqs / 8) + i` (set means "no -4"). Each meets word
//! `iqs % 8` of Q8_1 block `4 * (iqs / 8) + i` and the signed 6-bit scale `isc`:
//! `sumf += d8 * (dp4a(q, u) * sc)`, result `d * sumf`. ggml's `__vsubss4(vil, vih)` never
//! saturates here (`0..=3` minus `0` or `4`), so `dp4a(vil, u) - dp4a(vih, u)` is the same sum.

use crate::builder::{Addr, KernelBuilder, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, WeightSource, bits, dp4a0, ds_d, f16_at, int_b2, k_quant_activations,
    k_quant_lane, offset_addr, sum_terms, to_f32,
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

/// The signed scale of sub-block `isc` (0..16): low nibble in `scales[isc % 8]` at bit
/// `4 * (isc / 8)`, high 2 bits in `scales[8 + isc % 4]` at bit `2 * (isc / 4)`, minus 32.
fn scale(b: &mut KernelBuilder, w_block: Reg, isc: Reg) -> Reg {
    let low_index = b.and(Ty::U32, isc, 7u32);
    let low_addr = offset_addr(b, w_block, low_index);
    let low_byte = b.ld(Space::GlobalNc, Ty::U8, Addr::reg_off(low_addr, SCALES));
    let low_shift = b.shr(Ty::U32, isc, 3u32);
    let low_shift = b.shl(Ty::U32, low_shift, 2u32);
    let low = b.shr(Ty::U32, low_byte, low_shift);
    let low = b.and(Ty::U32, low, 0xFu32);

    let high_index = b.and(Ty::U32, isc, 3u32);
    let high_addr = offset_addr(b, w_block, high_index);
    let high_byte = b.ld(
        Space::GlobalNc,
        Ty::U8,
        Addr::reg_off(high_addr, SCALES + 8),
    );
    let high_shift = b.shr(Ty::U32, isc, 2u32);
    let high_shift = b.shl(Ty::U32, high_shift, 1u32);
    let high = b.shr(Ty::U32, high_byte, high_shift);
    let high = b.and(Ty::U32, high, 3u32);
    let high = b.shl(Ty::U32, high, 4u32);

    let sc = b.or(Ty::U32, low, high);
    b.sub(Ty::S32, sc, 32u32)
}

impl GemvFormat for Q3K {
    fn ty(&self) -> GgmlType {
        GgmlType::Q3_K
    }

    fn qi(&self) -> u32 {
        16
    }

    fn vdr(&self) -> u32 {
        1
    }

    /// `[low bits, high "-4" bits, scale]` per Q8_1 block `i`, then `d`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        // bq8_offset = QR3_K * (iqs / (QI3_K / 2)); scale_offset = iqs - iqs % 8 + (iqs % 8) / 4.
        let lane = k_quant_lane(b, w_block, iqs, QR);
        let vl = int_b2(b, Addr::reg_off(lane.w_word, QS));
        let hmask_word = b.shl(Ty::U32, lane.iqs8, 2u32);
        let w_hmask = offset_addr(b, w_block, hmask_word);
        let hmask = int_b2(b, Addr::reg(w_hmask));
        let inverted = b.not(Ty::U32, hmask);
        let vh = b.shr(Ty::U32, inverted, lane.bq8_offset);
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                let isc = b.add(Ty::U32, lane.scale_offset, 2 * i);
                let sc = scale(b, w_block, isc);
                let vil = bits(b, vl, 2 * i, 0x0303_0303);
                let vh_i = bits(b, vh, i, 0x0101_0101);
                let vih = b.shl(Ty::U32, vh_i, 2u32);
                [vil, vih, sc]
            })
            .collect();
        out.push(f16_at(b, Addr::reg_off(w_block, D)));
        out
    }

    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        k_quant_activations(b, x, iqs)
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let qr = QR as usize;
        let [sumf] = sum_terms(b, qr, |b, i| {
            let (u, d8) = (x[i], ds_d(b, x[qr + i]));
            let (vil, vih, sc) = (w[3 * i], w[3 * i + 1], w[3 * i + 2]);
            let pos = dp4a0(b, vil, u);
            let neg = dp4a0(b, vih, u);
            let dot = b.sub(Ty::S32, pos, neg);
            let dot_sc = b.mul(Ty::S32, dot, sc);
            let f = to_f32(b, dot_sc);
            [b.mul(Ty::F32, d8, f)]
        });
        b.mul(Ty::F32, w[3 * qr], sumf)
    }
}
