//! Q6_K: 256 weights in 16 sub-blocks of 16, signed 6-bit quants `q - 32` (4 bits in `ql`, 2 in
//! `qh`) with a signed 8-bit scale per sub-block and one f16 super-block scale: `x = d * sc * q`.

use super::q2_k::QK_K;
use crate::kquant_search::{GROUP_MAX_EPS, make_qx_quants, nearest_int};
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q6_K` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ6K {
    /// Low 4 bits: element `128 * n + 32 * k + l` (`k` = 0..4) sits in byte `64 * n + 32 * (k % 2)
    /// + l`, low nibble for `k < 2`, high nibble otherwise.
    pub ql: [u8; QK_K / 2],
    /// High 2 bits: same element in byte `32 * n + l`, bits `2 * k` and `2 * k + 1`.
    pub qh: [u8; QK_K / 4],
    /// Signed scale of each sub-block of 16.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale.
    pub d: f16,
}

const _: () = assert!(size_of::<BlockQ6K>() == 210);
const _: () = assert!(<BlockQ6K as QuantBlock>::BLOCK_BYTES == GgmlType::Q6_K.block_bytes());
const _: () = assert!(<BlockQ6K as QuantBlock>::BLOCK_ELEMS == GgmlType::Q6_K.block_elems());

impl BlockQ6K {
    /// The 256 signed quants (`-32..=31`) in element order.
    pub fn quants(&self) -> [i32; QK_K] {
        std::array::from_fn(|e| {
            let (n, k, l) = (e / 128, (e % 128) / 32, e % 32);
            let byte = self.ql[64 * n + 32 * (k % 2) + l];
            let low = if k < 2 { byte & 0xF } else { byte >> 4 };
            let high = (self.qh[32 * n + l] >> (2 * k)) & 3;
            i32::from(low | (high << 4)) - 32
        })
    }
}

impl QuantBlock for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q6_K`: `y = d * sc * q`, evaluated left to right.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        let q = self.quants();
        for (e, y) in out[..QK_K].iter_mut().enumerate() {
            *y = d * f32::from(self.scales[e / 16]) * q[e] as f32;
        }
    }

    /// ggml-quants.c `quantize_row_q6_K_ref`: `make_qx_quants(16, 32, x, L, 1, NULL)` per
    /// sub-block, 8-bit scales relative to the largest-magnitude one, then requantise.
    fn quantize_block(src: &[f32]) -> Self {
        let x = &src[..QK_K];
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; QK_K / 16];
        let mut max_scale = 0.0f32;
        let mut max_abs_scale = 0.0f32;
        for ib in 0..QK_K / 16 {
            let scale = make_qx_quants(
                32,
                &x[16 * ib..16 * ib + 16],
                &mut l[16 * ib..16 * ib + 16],
                1,
            );
            scales[ib] = scale;
            let abs_scale = scale.abs();
            if abs_scale > max_abs_scale {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }

        let mut y = BlockQ6K::zeroed();
        if max_abs_scale < GROUP_MAX_EPS {
            return y;
        }

        let iscale = -128.0 / max_scale;
        y.d = f16::from_f32(1.0 / iscale);
        for (packed, &scale) in y.scales.iter_mut().zip(&scales) {
            *packed = nearest_int(iscale * scale).min(127) as i8;
        }

        for j in 0..QK_K / 16 {
            let d = y.d.to_f32() * f32::from(y.scales[j]);
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-32, 31) + 32) as i8;
            }
        }

        for n in 0..QK_K / 128 {
            let (ql, qh) = (
                &mut y.ql[64 * n..64 * n + 64],
                &mut y.qh[32 * n..32 * n + 32],
            );
            let lq = |k: usize, i: usize| l[128 * n + 32 * k + i] as u8;
            for i in 0..32 {
                ql[i] = (lq(0, i) & 0xF) | ((lq(2, i) & 0xF) << 4);
                ql[i + 32] = (lq(1, i) & 0xF) | ((lq(3, i) & 0xF) << 4);
                qh[i] = (lq(0, i) >> 4)
                    | ((lq(1, i) >> 4) << 2)
                    | ((lq(2, i) >> 4) << 4)
                    | ((lq(3, i) >> 4) << 6);
            }
        }
        y
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q6_K_q8_1` (VDR 1: `iqs` = 0..32, one `int` of `ql` each)
    /// and `vec_dot_q6_K_q8_1_impl_mmvq`: for the two nibbles `i`, 4 quants of one sub-block
    /// dotted with 4 activations of Q8_1 block `4 * (iqs / 16) + (iqs % 16) / 8 + 2 * i`:
    /// `sumf += d8 * (dp4a(q - 32, u) * sc)`, then `d * sumf`. Partials summed in `(block, iqs)`
    /// order.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        let mut sum = 0.0f32;
        for (w, a) in weights.iter().zip(act.chunks_exact(QK_K / 32)) {
            let q = w.quants();
            let d = w.d.to_f32();
            for iqs in 0..32 {
                let (n, r) = (iqs / 16, 4 * (iqs % 16));
                let mut sumf = 0.0f32;
                for i in 0..2 {
                    let e0 = 128 * n + 64 * i + r;
                    let b = &a[e0 / 32];
                    let dot: i32 = (0..4)
                        .map(|k| q[e0 + k] * i32::from(b.qs[e0 % 32 + k]))
                        .sum();
                    sumf += b.d.to_f32() * (dot * i32::from(w.scales[e0 / 16])) as f32;
                }
                sum += d * sumf;
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
        // Quants q(e) = (e * 11) % 64 - 32 written into ql/qh by the layout ggml-common.h
        // documents; scales -8..8; d = 0.5.
        let want_q: [i32; QK_K] = std::array::from_fn(|e| ((e * 11) % 64) as i32 - 32);
        let mut block = BlockQ6K::zeroed();
        for (e, &q) in want_q.iter().enumerate() {
            let u = (q + 32) as u8;
            let (n, k, l) = (e / 128, (e % 128) / 32, e % 32);
            let byte = 64 * n + 32 * (k % 2) + l;
            block.ql[byte] |= if k < 2 { u & 0xF } else { (u & 0xF) << 4 };
            block.qh[32 * n + l] |= (u >> 4) << (2 * k);
        }
        block.scales = std::array::from_fn(|j| j as i8 - 8);
        block.d = f16::from_f32(0.5);
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (e, &v) in y.iter().enumerate() {
            let want = 0.5 * f32::from(block.scales[e / 16]) * want_q[e] as f32;
            assert_eq!(v, want, "element {e}");
        }
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockQ6K>(&x);
        assert!(err < 0.002, "Q6_K total quantization error {err}");
    }

    #[test]
    fn all_zero_input_gives_a_zero_block() {
        assert_eq!(BlockQ6K::quantize_block(&[0.0; QK_K]), BlockQ6K::zeroed());
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockQ6K>(0.02);
        let x = generate_data(0.5, 3 * QK_K, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockQ6K>(&x), 19);
    }
}
