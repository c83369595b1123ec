//! Q5_K: 256 weights in 8 sub-blocks of 32, 5-bit quants `q` (4 bits in `qs`, the fifth in
//! `qh`) with a 6-bit scale and a 6-bit min per sub-block: `x = d * sc * q - dmin * m`.

use super::affine_k::{
    AffineKBlock, K_SCALE_SIZE, dequantize_affine_k, pack_k_nibbles, quantize_affine_k,
    unpack_k_nibbles, vec_dot_affine_k,
};
use super::q2_k::QK_K;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q5_K` (ggml/src/ggml-common.h; its `dm` half2 is the two fields `d`, `dmin`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Super-block scale for the sub-block scales.
    pub d: f16,
    /// Super-block scale for the sub-block mins.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit mins, packed as in Q4_K.
    pub scales: [u8; K_SCALE_SIZE],
    /// Fifth bit of element `e`: bit `2 * (e / 64) + (e % 64) / 32` of byte `e % 32`.
    pub qh: [u8; QK_K / 8],
    /// Low 4 bits, packed as Q4_K's `qs`.
    pub qs: [u8; QK_K / 2],
}

const _: () = assert!(size_of::<BlockQ5K>() == 176);
const _: () = assert!(<BlockQ5K as QuantBlock>::BLOCK_BYTES == GgmlType::Q5_K.block_bytes());
const _: () = assert!(<BlockQ5K as QuantBlock>::BLOCK_ELEMS == GgmlType::Q5_K.block_elems());

impl BlockQ5K {
    /// The 256 unsigned quants (`0..=31`) in element order.
    pub fn quants(&self) -> [u8; QK_K] {
        let mut q = unpack_k_nibbles(&self.qs);
        for (e, v) in q.iter_mut().enumerate() {
            *v |= ((self.qh[e % 32] >> (2 * (e / 64) + (e % 64) / 32)) & 1) << 4;
        }
        q
    }
}

impl AffineKBlock for BlockQ5K {
    fn factors(&self) -> (f16, f16, &[u8; K_SCALE_SIZE]) {
        (self.d, self.dmin, &self.scales)
    }

    fn unpacked(&self) -> [u8; QK_K] {
        self.quants()
    }
}

impl QuantBlock for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q5_K` (see `dequantize_affine_k` in affine_k.rs).
    fn dequantize_block(&self, out: &mut [f32]) {
        dequantize_affine_k(self, out);
    }

    /// ggml-quants.c `quantize_row_q5_K_ref`: `make_qkx2_quants(32, 31, …, -0.5f, 0.1f, 15,
    /// false)` per sub-block (see `quantize_affine_k` in affine_k.rs); quants above 15 set their
    /// bit of `qh`.
    fn quantize_block(src: &[f32]) -> Self {
        let k = quantize_affine_k(src, 31, -0.5, 15);
        let mut qh = [0u8; QK_K / 8];
        for (e, &l) in k.l.iter().enumerate() {
            qh[e % 32] |= ((l >> 4) & 1) << (2 * (e / 64) + (e % 64) / 32);
        }
        BlockQ5K {
            d: k.d,
            dmin: k.dmin,
            scales: k.scales,
            qh,
            qs: pack_k_nibbles(&k.l),
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q5_K_q8_1` / `vec_dot_q5_K_q8_1_impl_vmmq`: the Q4_K
    /// computation on 5-bit quants (see `vec_dot_affine_k` in affine_k.rs).
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        vec_dot_affine_k(weights, act)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant_search::test_support::*;

    #[test]
    fn dequantize_hand_built_block() {
        // All scales 1 with d = 1 and all mins 0, so y = q; q(e) = (e * 7) % 32 exercises every
        // (qs nibble, qh bit) position.
        let want_q: [u8; QK_K] = std::array::from_fn(|e| ((e * 7) % 32) as u8);
        let mut block = BlockQ5K::zeroed();
        block.d = f16::ONE;
        block.scales = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1];
        for (e, &q) in want_q.iter().enumerate() {
            let byte = 32 * (e / 64) + e % 32;
            block.qs[byte] |= if e % 64 < 32 { q & 0xF } else { (q & 0xF) << 4 };
            block.qh[e % 32] |= (q >> 4) << (2 * (e / 64) + (e % 64) / 32);
        }
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (e, &v) in y.iter().enumerate() {
            assert_eq!(v, f32::from(want_q[e]), "element {e}");
        }
        // Round trip: quantising these integers again gives back the same values.
        let again = BlockQ5K::quantize_block(&y);
        let mut z = [0.0f32; QK_K];
        again.dequantize_block(&mut z);
        for (e, (&a, &b)) in y.iter().zip(&z).enumerate() {
            assert!((a - b).abs() <= 0.5, "element {e}: {a} vs {b}");
        }
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockQ5K>(&x);
        assert!(err < 0.002, "Q5_K total quantization error {err}");
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockQ5K>(0.02);
        let x = generate_data(0.5, 3 * QK_K, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockQ5K>(&x), 17);
    }
}
