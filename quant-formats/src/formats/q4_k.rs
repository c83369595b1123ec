//! Q4_K: 256 weights in 8 sub-blocks of 32, 4-bit quants `q` with a 6-bit scale and a 6-bit min
//! per sub-block, both scaled by f16 super-block factors: `x = d * sc * q - dmin * m` (the shared
//! maths is in `affine_k.rs`).

use super::affine_k::{
    AffineKBlock, K_SCALE_SIZE, dequantize_affine_k, pack_k_nibbles, quantize_affine_k,
    unpack_k_nibbles, vec_dot_affine_k,
};
use super::q2_k::QK_K;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_q4_K` (ggml/src/ggml-common.h; its `dm` half2 is the two fields `d`, `dmin`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockQ4K {
    /// Super-block scale for the sub-block scales.
    pub d: f16,
    /// Super-block scale for the sub-block mins.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit mins (see `get_scale_min_k4`).
    pub scales: [u8; K_SCALE_SIZE],
    /// Byte `32 * c + l` holds element `64 * c + l` (low nibble) and `64 * c + 32 + l` (high).
    pub qs: [u8; QK_K / 2],
}

const _: () = assert!(size_of::<BlockQ4K>() == 144);
const _: () = assert!(<BlockQ4K as QuantBlock>::BLOCK_BYTES == GgmlType::Q4_K.block_bytes());
const _: () = assert!(<BlockQ4K as QuantBlock>::BLOCK_ELEMS == GgmlType::Q4_K.block_elems());

impl BlockQ4K {
    /// The 256 unsigned quants (`0..=15`) in element order.
    pub fn quants(&self) -> [u8; QK_K] {
        unpack_k_nibbles(&self.qs)
    }
}

impl AffineKBlock for BlockQ4K {
    fn factors(&self) -> (f16, f16, &[u8; K_SCALE_SIZE]) {
        (self.d, self.dmin, &self.scales)
    }

    fn unpacked(&self) -> [u8; QK_K] {
        self.quants()
    }
}

impl QuantBlock for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q4_K` (see [`dequantize_affine_k`]).
    fn dequantize_block(&self, out: &mut [f32]) {
        dequantize_affine_k(self, out);
    }

    /// ggml-quants.c `quantize_row_q4_K_ref`: `make_qkx2_quants(32, 15, …, -1.f, 0.1f, 20,
    /// false)` per sub-block (see [`quantize_affine_k`]).
    fn quantize_block(src: &[f32]) -> Self {
        let k = quantize_affine_k(src, 15, -1.0, 20);
        BlockQ4K {
            d: k.d,
            dmin: k.dmin,
            scales: k.scales,
            qs: pack_k_nibbles(&k.l),
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_q4_K_q8_1` (see [`vec_dot_affine_k`]).
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        vec_dot_affine_k(weights, act)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant_search::test_support::*;

    /// Packs 6-bit scales/mins the way ggml-common.h documents `block_q4_K.scales`.
    pub(crate) fn pack_scales(sc: &[u8; 8], m: &[u8; 8]) -> [u8; K_SCALE_SIZE] {
        let mut p = [0u8; K_SCALE_SIZE];
        for j in 0..4 {
            p[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
            p[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
            p[j + 8] = (sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4);
        }
        p
    }

    #[test]
    fn dequantize_hand_built_block() {
        let sc = [1, 2, 17, 31, 33, 47, 50, 63];
        let m = [63, 0, 5, 16, 20, 40, 48, 62];
        let mut qs = [0u8; QK_K / 2];
        for (i, b) in qs.iter_mut().enumerate() {
            // Low nibble (element 64c + l) = l % 16, high nibble (element 64c + 32 + l) = 15 - l % 16.
            *b = ((i % 32) % 16) as u8 | ((15 - (i % 32) % 16) as u8) << 4;
        }
        let block = BlockQ4K {
            d: f16::from_f32(0.25),
            dmin: f16::from_f32(0.0625),
            scales: pack_scales(&sc, &m),
            qs,
        };
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (e, &v) in y.iter().enumerate() {
            let s = e / 32;
            let q = if e % 64 < 32 { e % 16 } else { 15 - e % 16 };
            let want = 0.25 * f32::from(sc[s]) * q as f32 - 0.0625 * f32::from(m[s]);
            assert_eq!(v, want, "element {e}");
        }
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockQ4K>(&x);
        assert!(err < 0.002, "Q4_K total quantization error {err}");
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockQ4K>(0.02);
        let x = generate_data(0.5, 3 * QK_K, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockQ4K>(&x), 13);
    }
}
