//! IQ4_XS: 256 weights in 8 sub-blocks of 32, 4-bit indices into `kvalues_iq4nl`, a signed 6-bit
//! scale per sub-block and one f16 super-block scale: `x = d * (ls - 32) * kvalues[q]`.

use super::iq4_nl::{dot_iq4, iq4_values};
use super::q2_k::QK_K;
use crate::kquant_search::quantize_iq4_nl_impl;
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `block_iq4_xs` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIQ4XS {
    /// Super-block scale.
    pub d: f16,
    /// High 2 bits of sub-block scale `ib` at bits `2 * ib`.
    pub scales_h: u16,
    /// Low 4 bits of sub-block scale `ib` in nibble `ib % 2` of byte `ib / 2`.
    pub scales_l: [u8; QK_K / 64],
    /// Table indices; bytes `16 * ib..16 * ib + 16` hold sub-block `ib` as IQ4_NL packs a block.
    pub qs: [u8; QK_K / 2],
}

const _: () = assert!(size_of::<BlockIQ4XS>() == 136);
const _: () = assert!(<BlockIQ4XS as QuantBlock>::BLOCK_BYTES == GgmlType::IQ4_XS.block_bytes());
const _: () = assert!(<BlockIQ4XS as QuantBlock>::BLOCK_ELEMS == GgmlType::IQ4_XS.block_elems());

impl BlockIQ4XS {
    /// The signed scale `ls - 32` of sub-block `ib` (0..8).
    pub fn sub_block_scale(&self, ib: usize) -> i32 {
        let low = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
        let high = ((self.scales_h >> (2 * ib)) & 3) as u8;
        i32::from(low | (high << 4)) - 32
    }

    fn sub_block_qs(&self, ib: usize) -> [u8; 16] {
        std::array::from_fn(|j| self.qs[16 * ib + j])
    }
}

impl QuantBlock for BlockIQ4XS {
    const TYPE: GgmlType = GgmlType::IQ4_XS;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_iq4_xs`: `dl = d * (ls - 32); y = dl * kvalues_iq4nl[q]`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (ib, y) in out[..QK_K].chunks_exact_mut(32).enumerate() {
            let dl = d * self.sub_block_scale(ib) as f32;
            for (yi, v) in y.iter_mut().zip(iq4_values(&self.sub_block_qs(ib))) {
                *yi = dl * f32::from(v);
            }
        }
    }

    /// ggml-quants.c `quantize_iq4_xs` without importance weights (what `quantize_row_iq4_xs_ref`
    /// calls): `quantize_row_iq4_nl_impl(256, 32, x, …, kvalues_iq4nl, NULL, 7)`.
    fn quantize_block(src: &[f32]) -> Self {
        let q = quantize_iq4_nl_impl::<128>(&src[..QK_K], 7);
        BlockIQ4XS {
            d: q.d,
            scales_h: q.scales_h,
            scales_l: q.scales_l,
            qs: q.qs,
        }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_iq4_xs_q8_1` (VDR 4: `iqs` = 0, 4, .., 28, one sub-block
    /// `iqs / 4` each): `sumi *= ls - 32; (d * d8) * sumi`. Partials summed in `(block, iqs)` order.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        let mut sum = 0.0f32;
        for (w, a) in weights.iter().zip(act.chunks_exact(QK_K / 32)) {
            for (ib, b) in a.iter().enumerate() {
                let values = iq4_values(&w.sub_block_qs(ib));
                let sumi = dot_iq4(&values, &b.qs, 0..32) * w.sub_block_scale(ib);
                let d = w.d.to_f32() * b.d.to_f32();
                sum += d * sumi as f32;
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kquant_search::KVALUES_IQ4NL;
    use crate::kquant_search::test_support::*;

    #[test]
    fn dequantize_hand_built_block() {
        // Sub-block ib has scale ls = 8 * ib + 3 (so ls - 32 runs from -29 to 27), indices
        // (j + ib) % 16 in both nibbles of byte j.
        let mut block = BlockIQ4XS::zeroed();
        block.d = f16::from_f32(0.125);
        for ib in 0..8 {
            let ls = (8 * ib + 3) as u16;
            block.scales_l[ib / 2] |= ((ls & 0xF) as u8) << (4 * (ib % 2));
            block.scales_h |= (ls >> 4) << (2 * ib);
            for j in 0..16 {
                let idx = ((j + ib) % 16) as u8;
                block.qs[16 * ib + j] = idx | (idx << 4);
            }
        }
        let mut y = [0.0f32; QK_K];
        block.dequantize_block(&mut y);
        for (e, &v) in y.iter().enumerate() {
            let (ib, j) = (e / 32, e % 16);
            let dl = 0.125 * (8 * ib as i32 + 3 - 32) as f32;
            assert_eq!(
                v,
                dl * f32::from(KVALUES_IQ4NL[(j + ib) % 16]),
                "element {e}"
            );
        }
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockIQ4XS>(&x);
        assert!(err < 0.002, "IQ4_XS total quantization error {err}");
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockIQ4XS>(0.02);
        let x = generate_data(0.5, 3 * QK_K, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockIQ4XS>(&x), 29);
    }
}
