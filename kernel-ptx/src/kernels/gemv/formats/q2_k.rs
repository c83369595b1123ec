//! Q2_K × Q8_1, as ggml-cuda's `vec_dot_q2_K_q8_1` with `vec_dot_q2_K_q8_1_impl_mmvq`
//! (ggml/src/ggml-cuda/vecdotq.cuh). VDR 1, QI 16: sixteen threads share a block.
//!
//! `block_q2_K` (84 bytes): `scales[16]` at 0 (scale low nibble, min high nibble), `qs[64]` at
//! 16, `dm = {d, dmin}` at 80. Word `iqs` of `qs` holds 2-bit quants of elements
//! `128 * (iqs / 8) + 32 * i + 4 * (iqs % 8) + 0..4` at bit `2i` (`i` = 0..4), which meet
//! word `iqs % 8` of Q8_1 block `4 * (iqs / 8) + i` and sub-block scale
//! `scales[(iqs - iqs % 8) + (iqs % 8) / 4 + 2i]`:
//! `sumf_d += d8 * (dp4a(q, u) * (sc & 0xF)); sumf_m += d8 * dp4a(4 × (sc >> 4), u)`,
//! result `d * sumf_d - dmin * sumf_m`.

use crate::builder::{Addr, KernelBuilder, Reg, Space, Ty};
use crate::kernels::gemv::format::{
    ActBlock, GemvFormat, WeightSource, bits, dp4a0, ds_d, half2_at, int_b4, k_quant_activations,
    k_quant_lane, offset_addr, scaled_minus_mins, sum_terms, to_f32,
};
use quant_formats::GgmlType;

pub struct Q2K;
#[allow(non_upper_case_globals)]
pub const Q2_K: Q2K = Q2K;

const QS: i64 = 16;
const DM: i64 = 80;
/// ggml's `QR2_K`: quants per byte group, also the Q8_1 blocks one word meets.
const QR: u32 = 4;

impl GemvFormat for Q2K {
    fn ty(&self) -> GgmlType {
        GgmlType::Q2_K
    }

    fn qi(&self) -> u32 {
        16
    }

    fn vdr(&self) -> u32 {
        1
    }

    /// `[quants, scale, min × 0x01010101]` per Q8_1 block `i`, then `d`, `dmin`.
    fn emit_weights(
        &self,
        b: &mut KernelBuilder,
        _src: WeightSource,
        w_block: Reg,
        iqs: Reg,
    ) -> Vec<Reg> {
        // bq8_offset = QR2_K * (iqs / QI8_1); scale_offset = iqs - iqs % 8 + (iqs % 8) / 4.
        let lane = k_quant_lane(b, w_block, iqs, QR);
        let v = int_b4(b, Addr::reg_off(lane.w_word, QS));
        let w_scales = offset_addr(b, w_block, lane.scale_offset);
        let mut out: Vec<Reg> = (0..QR)
            .flat_map(|i| {
                let sc = b.ld(
                    Space::GlobalNc,
                    Ty::U8,
                    Addr::reg_off(w_scales, 2 * i64::from(i)),
                );
                let vi = bits(b, v, 2 * i, 0x0303_0303);
                let scale = b.and(Ty::U32, sc, 0xFu32);
                // The min in every byte: (sc >> 4) * 0x01010101.
                let min = b.shr(Ty::U32, sc, 4u32);
                let min4 = b.mul(Ty::U32, min, 0x0101_0101u32);
                [vi, scale, min4]
            })
            .collect();
        let (d, dmin) = half2_at(b, Addr::reg_off(w_block, DM));
        out.extend([d, dmin]);
        out
    }

    fn emit_activations(&self, b: &mut KernelBuilder, x: ActBlock, iqs: Reg) -> Vec<Reg> {
        k_quant_activations(b, x, iqs)
    }

    fn emit_dot(&self, b: &mut KernelBuilder, w: &[Reg], x: &[Reg]) -> Reg {
        let qr = QR as usize;
        let [sumf_d, sumf_m] = sum_terms(b, qr, |b, i| {
            let (u, d8) = (x[i], ds_d(b, x[qr + i]));
            let (vi, scale, min4) = (w[3 * i], w[3 * i + 1], w[3 * i + 2]);
            let dot = dp4a0(b, vi, u);
            let dot_sc = b.mul(Ty::S32, dot, scale);
            let fd = to_f32(b, dot_sc);
            let term_d = b.mul(Ty::F32, d8, fd);
            let dot_m = dp4a0(b, min4, u);
            let fm = to_f32(b, dot_m);
            let term_m = b.mul(Ty::F32, d8, fm);
            [term_d, term_m]
        });
        scaled_minus_mins(b, (w[3 * qr], w[3 * qr + 1]), sumf_d, sumf_m)
    }
}
