//! Q3_K: 256 weights in 16 sub-blocks of 16, signed 3-bit quants `q` in `[-4, 3]` (2 low bits in
//! `qs`, the high bit inverted in `hmask`) with signed 6-bit sub-block scales and one f16 super-block
//! scale: `x = d * (sc - 32) * q`.

use super::q2_k::{QK_K, pack_2bit, unpack_2bit};
use crate::kquant_search::{make_q3_quants, nearest_int};
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q3_K` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ3K {
    /// High bit of each quant: bit `e / 32` of byte `e % 32`; a set bit means `q >= 0`.
    pub hmask: [u8; QK_K / 8],
    /// Low 2 bits of each quant, packed as Q2_K's `qs`.
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit scales (offset by 32), unpacked by [`BlockQ3K::sub_block_scales`].
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: f16,
}

const _: () = assert!(size_of::<BlockQ3K>() == 110);
const _: () = assert!(<BlockQ3K as QuantBlock>::BLOCK_BYTES == GgmlType::Q3_K.block_bytes());
const _: () = assert!(<BlockQ3K as QuantBlock>::BLOCK_ELEMS == GgmlType::Q3_K.block_elems());

impl BlockQ3K {
    /// The signed scales (`-32..=31`) of the 16 sub-blocks: low nibble of sub-block `j` in
    /// `scales[j % 8]` (bits `4 * (j / 8)`), high 2 bits in `scales[8 + j % 4]` (bits `2 * (j / 4)`).
    pub fn sub_block_scales(&self) -> [i32; 16] {
        std::array::from_fn(|j| {
            let low = (self.scales[j % 8] >> (4 * (j / 8))) & 0xF;
            let high = (self.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
            i32::from(low | (high << 4)) - 32
        })
    }

    /// The 256 signed quants (`-4..=3`) in element order.
    pub fn quants(&self) -> [i32; QK_K] {
        let low = unpack_2bit(&self.qs);
        std::array::from_fn(|e| {
            let high_set = (self.hmask[e % 32] >> (e / 32)) & 1 != 0;
            i32::from(low[e]) - if high_set { 0 } else { 4 }
        })
    }
}

impl QuantBlock for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q3_K`: `dl = d_all * (sc - 32); y = dl * q`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d_all = self.d.to_f32();
        let scales = self.sub_block_scales();
        let q = self.quants();
        for (e, y) in out[..QK_K].iter_mut().enumerate() {
            let dl = d_all * scales[e / 16] as f32;
            *y = dl * q[e] as f32;
        }
    }

    /// ggml-quants.c `quantize_row_q3_K_ref`: `make_q3_quants(16, 4, x, L, true)` per sub-block,
    /// 6-bit scales relative to the largest-magnitude one, then requantise with the stored scales.
    fn quantize_block(src: &[f32]) -> Self {
        let x = &src[..QK_K];
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; QK_K / 16];
        let mut y = BlockQ3K::zeroed();

        let mut max_scale = 0.0f32;
        let mut amax = 0.0f32;
        for j in 0..QK_K / 16 {
            scales[j] = make_q3_quants(
                4,
                &x[16 * j..16 * j + 16],
                &mut l[16 * j..16 * j + 16],
                true,
            );
            let scale = scales[j].abs();
            if scale > amax {
                amax = scale;
                max_scale = scales[j];
            }
        }

        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &scale) in scales.iter().enumerate() {
                let mut l = ((nearest_int(iscale * scale) as i8).clamp(-32, 31) as i32 + 32) as i8;
                if j < 8 {
                    y.scales[j] = (l & 0xF) as u8;
                } else {
                    y.scales[j - 8] |= ((l & 0xF) << 4) as u8;
                }
                l >>= 4;
                y.scales[j % 4 + 8] |= (l << (2 * (j / 4))) as u8;
            }
            y.d = f16::from_f32(1.0 / iscale);
        } else {
            y.d = f16::from_f32(0.0);
        }

        let stored = y.sub_block_scales();
        for j in 0..QK_K / 16 {
            let d = y.d.to_f32() * stored[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-4, 3) + 4) as i8;
            }
        }

        let mut low = [0u8; QK_K];
        for (e, (&lj, lo)) in l.iter().zip(low.iter_mut()).enumerate() {
            let mut lj = lj as u8;
            if lj > 3 {
                y.hmask[e % 32] |= 1 << (e / 32);
                lj -= 4;
            }
            *lo = lj;
        }
        y.qs = pack_2bit(&low);
        y
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q3_K_q8_1` (VDR 1: `iqs` = 0..16) and
    /// `vec_dot_q3_K_q8_1_impl_mmvq`: for each of the 4 shifts `i`, 4 signed quants of one
    /// sub-block dotted with 4 activations of Q8_1 block `4 * (iqs / 8) + i`:
    /// `sumf += d8 * (dp4a(q, u) * sc)`, then `d * sumf`. Partials summed in `(block, iqs)` order.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        let mut sum = 0.0f32;
        for (w, a) in weights.iter().zip(act.chunks_exact(QK_K / 32)) {
            let q = w.quants();
            let scales = w.sub_block_scales();
            let d = w.d.to_f32();
            for iqs in 0..16 {
                let (n, l0) = (iqs / 8, 4 * (iqs % 8));
                let mut sumf = 0.0f32;
                for i in 0..4 {
                    let e0 = 128 * n + 32 * i + l0;
                    let b = &a[4 * n + i];
                    let dot: i32 = (0..4).map(|k| q[e0 + k] * i32::from(b.qs[l0 + k])).sum();
                    sumf += b.d.to_f32() * (dot * scales[e0 / 16]) as f32;
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

    /// Builds a block from signed quants and signed scales with ggml's bit layout, written out
    /// independently of `quantize_block`.
    fn build(q: &[i32; QK_K], sc: &[i32; 16], d: f32) -> BlockQ3K {
        let mut block = BlockQ3K::zeroed();
        let low: [u8; QK_K] = std::array::from_fn(|e| ((q[e] + 4) & 3) as u8);
        block.qs = pack_2bit(&low);
        for (e, &v) in q.iter().enumerate() {
            if v >= 0 {
                block.hmask[e % 32] |= 1 << (e / 32);
            }
        }
        for (j, &s) in sc.iter().enumerate() {
            let u = (s + 32) as u8;
            block.scales[j % 8] |= (u & 0xF) << (4 * (j / 8));
            block.scales[8 + j % 4] |= (u >> 4) << (2 * (j / 4));
        }
        block.d = f16::from_f32(d);
        block
    }

    #[test]
    fn dequantize_hand_built_block() {
        let q: [i32; QK_K] = std::array::from_fn(|e| (e % 8) as i32 - 4);
        let sc: [i32; 16] = std::array::from_fn(|j| 4 * j as i32 - 32);
        let block = build(&q, &sc, 0.125);
        assert_eq!(block.sub_block_scales(), sc);
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (e, &v) in y.iter().enumerate() {
            assert_eq!(v, 0.125 * sc[e / 16] as f32 * q[e] as f32, "element {e}");
        }
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockQ3K>(&x);
        assert!(err < 0.0040, "Q3_K total quantization error {err}");
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockQ3K>(0.02);
        let x = generate_data(0.5, 3 * QK_K, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockQ3K>(&x), 11);
    }
}
