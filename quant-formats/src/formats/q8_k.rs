//! Q8_K: 256 values as signed 8-bit quants with an f32 scale and 16 partial sums. ggml uses it as
//! the activation format of the CPU k-quant dot products; here it is dotted with itself.

use super::q2_k::QK_K;
use crate::kquant_search::{max_by_magnitude, nearest_int};
use crate::{GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};

/// ggml's `block_q8_K` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ8K {
    /// Scale (f32, unlike the other formats).
    pub d: f32,
    /// Quants.
    pub qs: [i8; QK_K],
    /// Sum of each group of 16 quants.
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(size_of::<BlockQ8K>() == 292);
const _: () = assert!(<BlockQ8K as QuantBlock>::BLOCK_BYTES == GgmlType::Q8_K.block_bytes());
const _: () = assert!(<BlockQ8K as QuantBlock>::BLOCK_ELEMS == GgmlType::Q8_K.block_elems());

impl QuantBlock for BlockQ8K {
    const TYPE: GgmlType = GgmlType::Q8_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8K;

    /// ggml-quants.c `dequantize_row_q8_K`: `y = d * q`.
    fn dequantize_block(&self, out: &mut [f32]) {
        for (y, &q) in out[..QK_K].iter_mut().zip(&self.qs) {
            *y = self.d * f32::from(q);
        }
    }

    /// ggml-quants.c `quantize_row_q8_K_ref`: `iscale = -127 / max` where `max` is the
    /// largest-magnitude value (with its sign), `q = min(127, nearest_int(iscale * x))`,
    /// `d = 1 / iscale`.
    fn quantize_block(src: &[f32]) -> Self {
        let x = &src[..QK_K];
        let (max, amax) = max_by_magnitude(x);
        let mut y = BlockQ8K::zeroed();
        if amax == 0.0 {
            return y;
        }
        let iscale = -127.0 / max;
        for (q, &v) in y.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (sum, group) in y.bsums.iter_mut().zip(y.qs.chunks_exact(16)) {
            *sum = group.iter().map(|&q| i16::from(q)).sum();
        }
        y.d = 1.0 / iscale;
        y
    }

    /// Integer dot per block times both scales: `(d_w * d_a) * sumi`, summed over blocks.
    fn vec_dot(weights: &[Self], act: &[Self]) -> f32 {
        weights.iter().zip(act).fold(0.0f32, |acc, (w, a)| {
            let sumi: i32 =
                w.qs.iter()
                    .zip(&a.qs)
                    .map(|(&p, &q)| i32::from(p) * i32::from(q))
                    .sum();
            acc + w.d * a.d * sumi as f32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant_search::test_support::*;

    #[test]
    fn dequantize_hand_built_block() {
        let mut block = BlockQ8K::zeroed();
        block.d = 0.03125;
        block.qs = std::array::from_fn(|i| (i as i32 - 128) as i8);
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (i, &v) in y.iter().enumerate() {
            assert_eq!(v, 0.03125 * (i as f32 - 128.0));
        }
    }

    #[test]
    fn quantize_keeps_the_extreme_and_bsums() {
        let x = generate_data(0.0, QK_K, 2.0);
        let block = BlockQ8K::quantize_block(&x);
        let (imax, _) = x
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        // The largest-magnitude value maps to -127 (iscale = -127 / max).
        assert_eq!(block.qs[imax], -127);
        for (g, &s) in block.bsums.iter().enumerate() {
            let want: i32 = block.qs[16 * g..16 * g + 16]
                .iter()
                .map(|&q| i32::from(q))
                .sum();
            assert_eq!(i32::from(s), want);
        }
        assert_eq!(BlockQ8K::quantize_block(&[0.0; QK_K]), BlockQ8K::zeroed());
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockQ8K>(&x);
        assert!(err < 0.002, "Q8_K total quantization error {err}");
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let y = generate_data(1.0, TEST_SIZE, 2.0);
        let (w, a) = (quantize::<BlockQ8K>(&x), quantize::<BlockQ8K>(&y));
        let got = BlockQ8K::vec_dot(&w, &a);
        // Same bound as the Q8_1 formats (see test_support::check_vec_dot).
        assert_near_dequantised_dot(got, &w, &a);
    }
}
