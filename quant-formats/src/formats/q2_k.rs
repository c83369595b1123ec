//! Q2_K: 256 weights in 16 sub-blocks of 16, 2-bit quants `q` with a 4-bit scale and a 4-bit
//! min per sub-block, both scaled by f16 super-block factors: `x = d * sc * q - dmin * m`.

use crate::kquant_search::{make_qkx2_quants, nearest_int};
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `QK_K`: elements per k-quant super-block.
pub(crate) const QK_K: usize = 256;

/// ggml's `block_q2_K` (ggml/src/ggml-common.h; its `dm` half2 is the two fields `d`, `dmin`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ2K {
    /// Per sub-block of 16: scale in the low nibble, min in the high nibble.
    pub scales: [u8; QK_K / 16],
    /// 2-bit quants, packed by [`pack_2bit`].
    pub qs: [u8; QK_K / 4],
    /// Super-block scale for the sub-block scales.
    pub d: f16,
    /// Super-block scale for the sub-block mins.
    pub dmin: f16,
}

const _: () = assert!(size_of::<BlockQ2K>() == 84);
const _: () = assert!(<BlockQ2K as QuantBlock>::BLOCK_BYTES == GgmlType::Q2_K.block_bytes());
const _: () = assert!(<BlockQ2K as QuantBlock>::BLOCK_ELEMS == GgmlType::Q2_K.block_elems());

/// The 2-bit field of element `e` (0..256) in Q2_K/Q3_K `qs`: byte `32 * (e / 128) + e % 32`,
/// bits `2 * ((e % 128) / 32)` and up.
pub(crate) fn unpack_2bit(qs: &[u8; QK_K / 4]) -> [u8; QK_K] {
    std::array::from_fn(|e| (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3)
}

/// Packs 256 values below 4 as `quantize_row_q2_K_ref` does (inverse of [`unpack_2bit`]).
pub(crate) fn pack_2bit(l: &[u8; QK_K]) -> [u8; QK_K / 4] {
    let mut qs = [0u8; QK_K / 4];
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            qs[j / 4 + i] =
                l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
        }
    }
    qs
}

impl QuantBlock for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q2_K`: `dl = d * (sc & 0xF); ml = dmin * (sc >> 4);
    /// y = dl * q - ml`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let (d, min) = (self.d.to_f32(), self.dmin.to_f32());
        let q = unpack_2bit(&self.qs);
        for (sub, y) in out[..QK_K].chunks_exact_mut(16).enumerate() {
            let sc = self.scales[sub];
            let dl = d * f32::from(sc & 0xF);
            let ml = min * f32::from(sc >> 4);
            for (yi, &qi) in y.iter_mut().zip(&q[16 * sub..16 * sub + 16]) {
                *yi = dl * f32::from(qi) - ml;
            }
        }
    }

    /// ggml-quants.c `quantize_row_q2_K_ref`: `make_qkx2_quants(16, 3, x, |x|, …, -0.5, 0.1, 15,
    /// true)` per sub-block, 4-bit scales and mins relative to their maxima, then requantise.
    fn quantize_block(src: &[f32]) -> Self {
        const Q4SCALE: f32 = 15.0;
        let x = &src[..QK_K];
        let mut l = [0u8; QK_K];
        let mut mins = [0.0f32; QK_K / 16];
        let mut scales = [0.0f32; QK_K / 16];
        let mut y = BlockQ2K::zeroed();

        let mut max_scale = 0.0f32;
        let mut max_min = 0.0f32;
        for j in 0..QK_K / 16 {
            let xs = &x[16 * j..16 * j + 16];
            let weights: [f32; 16] = std::array::from_fn(|i| xs[i].abs());
            let (scale, min) = make_qkx2_quants(
                3,
                xs,
                &weights,
                &mut l[16 * j..16 * j + 16],
                -0.5,
                0.1,
                15,
                true,
            );
            scales[j] = scale;
            mins[j] = min;
            if scale > max_scale {
                max_scale = scale;
            }
            if min > max_min {
                max_min = min;
            }
        }

        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for (packed, &scale) in y.scales.iter_mut().zip(&scales) {
                *packed = nearest_int(iscale * scale) as u8;
            }
            y.d = f16::from_f32(max_scale / Q4SCALE);
        } else {
            y.d = f16::from_f32(0.0);
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for (packed, &min) in y.scales.iter_mut().zip(&mins) {
                *packed |= (nearest_int(iscale * min) << 4) as u8;
            }
            y.dmin = f16::from_f32(max_min / Q4SCALE);
        } else {
            y.dmin = f16::from_f32(0.0);
        }
        for j in 0..QK_K / 16 {
            let d = y.d.to_f32() * f32::from(y.scales[j] & 0xF);
            if d == 0.0 {
                continue;
            }
            let dm = y.dmin.to_f32() * f32::from(y.scales[j] >> 4);
            for ii in 0..16 {
                l[16 * j + ii] = nearest_int((x[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
            }
        }
        y.qs = pack_2bit(&l);
        y
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q2_K_q8_1` (VDR 1: `iqs` = 0..16, one `int` of `qs` each)
    /// and `vec_dot_q2_K_q8_1_impl_mmvq`: for each of the 4 shifts `i`, 4 quants of sub-block
    /// `sc` dotted with 4 activations of Q8_1 block `4 * (iqs / 8) + i`:
    /// `sumf_d += d8 * (dp4a(q, u) * (sc & 0xF)); sumf_m += d8 * dp4a(sc >> 4, u)`, then
    /// `d * sumf_d - dmin * sumf_m`. The partials are summed in `(block, iqs)` order.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        let mut sum = 0.0f32;
        for (w, a) in weights.iter().zip(act.chunks_exact(QK_K / 32)) {
            let q = unpack_2bit(&w.qs);
            let (d, dmin) = (w.d.to_f32(), w.dmin.to_f32());
            for iqs in 0..16 {
                let (n, l0) = (iqs / 8, 4 * (iqs % 8));
                let mut sumf_d = 0.0f32;
                let mut sumf_m = 0.0f32;
                for i in 0..4 {
                    let e0 = 128 * n + 32 * i + l0;
                    let sc = i32::from(w.scales[e0 / 16]);
                    let b = &a[4 * n + i];
                    let u = &b.qs[l0..l0 + 4];
                    let dot: i32 = (0..4).map(|k| i32::from(q[e0 + k]) * i32::from(u[k])).sum();
                    let sum_u: i32 = u.iter().map(|&v| i32::from(v)).sum();
                    let d8 = b.d.to_f32();
                    sumf_d += d8 * (dot * (sc & 0xF)) as f32;
                    sumf_m += d8 * ((sc >> 4) * sum_u) as f32;
                }
                sum += d * sumf_d - dmin * sumf_m;
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant_search::test_support::*;

    #[test]
    fn dequantize_hand_built_block() {
        // d = 0.5, dmin = 0.25; sub-block s has scale s % 16 and min 15 - s; q(e) = e % 4.
        let mut l = [0u8; QK_K];
        for (e, v) in l.iter_mut().enumerate() {
            *v = (e % 4) as u8;
        }
        let block = BlockQ2K {
            scales: std::array::from_fn(|s| (s as u8 % 16) | ((15 - s as u8) << 4)),
            qs: pack_2bit(&l),
            d: f16::from_f32(0.5),
            dmin: f16::from_f32(0.25),
        };
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (e, &v) in y.iter().enumerate() {
            let s = e / 16;
            let want = 0.5 * s as f32 * (e % 4) as f32 - 0.25 * (15 - s) as f32;
            assert_eq!(v, want, "element {e}");
        }
    }

    #[test]
    fn pack_2bit_matches_ggml_positions() {
        let l: [u8; QK_K] = std::array::from_fn(|e| ((e * 5 + e / 7) % 4) as u8);
        let qs = pack_2bit(&l);
        assert_eq!(unpack_2bit(&qs), l);
        // Element 32 sits in bits 2..4 of byte 0; element 128 + 96 + 31 in bits 6..8 of byte 63.
        assert_eq!((qs[0] >> 2) & 3, l[32]);
        assert_eq!(qs[63] >> 6, l[255]);
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockQ2K>(&x);
        assert!(err < 0.0075, "Q2_K total quantization error {err}");
    }

    #[test]
    fn all_zero_input_gives_a_zero_block() {
        let block = BlockQ2K::quantize_block(&[0.0; QK_K]);
        assert_eq!(block, BlockQ2K::zeroed());
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockQ2K>(0.04);
        let x = generate_data(0.5, 3 * QK_K, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockQ2K>(&x), 7);
    }
}
