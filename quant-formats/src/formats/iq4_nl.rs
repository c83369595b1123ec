//! IQ4_NL: 32 weights as 4-bit indices into the non-linear table `kvalues_iq4nl` with one f16
//! scale: `x = d * kvalues[q]`.

use crate::kquant_search::{KVALUES_IQ4NL, quantize_iq4_nl_impl};
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `QK4_NL`.
const QK4_NL: usize = 32;

/// ggml's `block_iq4_nl` (ggml/src/ggml-common.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct BlockIQ4NL {
    /// Scale.
    pub d: f16,
    /// Table indices: element `j` low nibble, element `j + 16` high nibble.
    pub qs: [u8; QK4_NL / 2],
}

const _: () = assert!(size_of::<BlockIQ4NL>() == 18);
const _: () = assert!(<BlockIQ4NL as QuantBlock>::BLOCK_BYTES == GgmlType::IQ4_NL.block_bytes());
const _: () = assert!(<BlockIQ4NL as QuantBlock>::BLOCK_ELEMS == GgmlType::IQ4_NL.block_elems());

/// The table values of 32 elements stored as ggml packs IQ4 nibbles (`qs[j]`: element `j` low,
/// `j + 16` high), in element order.
pub(crate) fn iq4_values(qs: &[u8; 16]) -> [i8; 32] {
    std::array::from_fn(|e| {
        let byte = qs[e % 16];
        KVALUES_IQ4NL[usize::from(if e < 16 { byte & 0xF } else { byte >> 4 })]
    })
}

/// The integer sum `kvalues[q] * u` over elements `range` (ggml-cuda's dp4a sums).
pub(crate) fn dot_iq4(values: &[i8; 32], u: &[i8; 32], range: impl Iterator<Item = usize>) -> i32 {
    range.map(|e| i32::from(values[e]) * i32::from(u[e])).sum()
}

impl QuantBlock for BlockIQ4NL {
    const TYPE: GgmlType = GgmlType::IQ4_NL;
    const BLOCK_ELEMS: usize = QK4_NL;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_iq4_nl`: `y = d * kvalues_iq4nl[q]`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, v) in out[..QK4_NL].iter_mut().zip(iq4_values(&self.qs)) {
            *y = d * f32::from(v);
        }
    }

    /// ggml-quants.c `quantize_iq4_nl` without importance weights: `quantize_row_iq4_nl_impl(32,
    /// 32, x, …, kvalues_iq4nl, NULL, 7)`, which is what llama-quantize writes. (Upstream's
    /// `quantize_row_iq4_nl_ref` passes `ntry = -1`, a coarser search.)
    fn quantize_block(src: &[f32]) -> Self {
        let q = quantize_iq4_nl_impl::<16>(&src[..QK4_NL], 7);
        BlockIQ4NL { d: q.d, qs: q.qs }
    }

    /// ggml-cuda vecdotq.cuh `vec_dot_iq4_nl_q8_1` (VDR 2: `iqs` = 0, 2, each covering elements
    /// `4 * iqs..4 * iqs + 8` and the same 16 later): `(d * d8) * sumi`. Partials summed in
    /// `(block, iqs)` order.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        let mut sum = 0.0f32;
        for (w, a) in weights.iter().zip(act) {
            let values = iq4_values(&w.qs);
            let d = w.d.to_f32() * a.d.to_f32();
            for iqs in [0usize, 2] {
                let elems = (4 * iqs..4 * iqs + 8).chain(16 + 4 * iqs..16 + 4 * iqs + 8);
                sum += d * dot_iq4(&values, &a.qs, elems) as f32;
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
        // Element j takes index j % 16, element j + 16 index 15 - j % 16.
        let block = BlockIQ4NL {
            d: f16::from_f32(0.5),
            qs: std::array::from_fn(|j| j as u8 | ((15 - j as u8) << 4)),
        };
        let mut y = [0.0f32; QK4_NL];
        block.dequantize_block(&mut y);
        for j in 0..16 {
            assert_eq!(y[j], 0.5 * f32::from(KVALUES_IQ4NL[j]));
            assert_eq!(y[j + 16], 0.5 * f32::from(KVALUES_IQ4NL[15 - j]));
        }
    }

    #[test]
    fn quantization_error_within_llama_cpp_bound() {
        let x = generate_data(0.0, TEST_SIZE, 2.0);
        let err = total_quantization_error::<BlockIQ4NL>(&x);
        assert!(err < 0.002, "IQ4_NL total quantization error {err}");
    }

    #[test]
    fn exact_table_values_round_trip() {
        // x = 0.25 * kvalues[perm(j)]: the fit finds d = 0.25 and the indices exactly.
        let idx: [usize; 32] = std::array::from_fn(|j| (j * 5 + 3) % 16);
        let x: Vec<f32> = idx
            .iter()
            .map(|&i| 0.25 * f32::from(KVALUES_IQ4NL[i]))
            .collect();
        let block = BlockIQ4NL::quantize_block(&x);
        let mut y = [0.0f32; QK4_NL];
        block.dequantize_block(&mut y);
        for j in 0..QK4_NL {
            assert!(
                (y[j] - x[j]).abs() <= 1e-3 * x[j].abs(),
                "{j}: {} vs {}",
                y[j],
                x[j]
            );
        }
    }

    #[test]
    fn vec_dot_matches_dequantised_dot() {
        check_vec_dot::<BlockIQ4NL>(0.02);
        let x = generate_data(0.5, 96, 1.5);
        check_vec_dot_arbitrary(&quantize::<BlockIQ4NL>(&x), 23);
    }
}
