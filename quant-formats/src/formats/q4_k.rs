//! Q4_K: 256 weights in 8 sub-blocks of 32, 4-bit quants `q` with a 6-bit scale and a 6-bit min
//! per sub-block, both scaled by f16 super-block factors: `x = d * sc * q - dmin * m`.

use super::q2_k::QK_K;
use crate::kquant_search::{get_scale_min_k4, make_qkx2_quants, nearest_int};
use crate::{BlockQ8_1, GgmlType, QuantBlock};
use bytemuck::{Pod, Zeroable};
use half::f16;

/// ggml's `K_SCALE_SIZE`: bytes of packed 6-bit scales and mins in Q4_K/Q5_K.
pub(crate) const K_SCALE_SIZE: usize = 12;

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

/// The part of `quantize_row_q4_K_ref` / `quantize_row_q5_K_ref` the two share: per sub-block of
/// 32 a `make_qkx2_quants` fit weighted by `sqrt(mean(x²)) + |x|`, 6-bit scales and mins relative
/// to their maxima, then the quants recomputed from the stored (rounded) scales.
pub(crate) struct AffineK {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; K_SCALE_SIZE],
    /// Quants in element order, `0..=nmax`.
    pub l: [u8; QK_K],
}

/// See [`AffineK`]. `nmax` is 15 (Q4_K) or 31 (Q5_K); `rmin`, `nstep` are the search parameters
/// upstream passes (`-1, 20` for Q4_K, `-0.5, 15` for Q5_K; `rdelta` is 0.1 for both).
pub(crate) fn quantize_affine_k(x: &[f32], nmax: i32, rmin: f32, nstep: i32) -> AffineK {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    let mut mins = [0.0f32; QK_K / 32];
    let mut scales = [0.0f32; QK_K / 32];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..QK_K / 32 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let weights: [f32; 32] = std::array::from_fn(|i| av_x + xs[i].abs());
        let (scale, min) = make_qkx2_quants(
            nmax,
            xs,
            &weights,
            &mut l[32 * j..32 * j + 32],
            rmin,
            0.1,
            nstep,
            false,
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

    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; K_SCALE_SIZE];
    for j in 0..QK_K / 32 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let d = f16::from_f32(max_scale / 63.0);
    let dmin = f16::from_f32(max_min / 63.0);

    for j in 0..QK_K / 32 {
        let (sc, m) = get_scale_min_k4(j, &packed);
        let dj = d.to_f32() * f32::from(sc);
        if dj == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * f32::from(m);
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    AffineK {
        d,
        dmin,
        scales: packed,
        l,
    }
}

/// Integer sums of one CUDA `vec_dot_q{4,5}_K_q8_1` call for sub-block `sub` (0..8): quants `q`
/// (element order) dotted with Q8_1 block `b` over the 8 elements `4t..4t+4` and `16+4t..16+4t+4`
/// of the sub-block, and the sum of those 8 activations. Returns `(dot, sum_u)`.
pub(crate) fn dot8_q8_1(q: &[u8; QK_K], sub: usize, t: usize, b: &BlockQ8_1) -> (i32, i32) {
    let mut dot = 0i32;
    let mut sum_u = 0i32;
    for k in (4 * t..4 * t + 4).chain(16 + 4 * t..16 + 4 * t + 4) {
        let u = i32::from(b.qs[k]);
        dot += i32::from(q[32 * sub + k]) * u;
        sum_u += u;
    }
    (dot, sum_u)
}

/// ggml-cuda vecdotq.cuh `vec_dot_q{4,5}_K_q8_1` (VDR 2: `iqs` = 0, 2, .., 30, i.e. chunk
/// `c = iqs / 8` of 64 elements and quarter `t = (iqs / 2) % 4`) with
/// `vec_dot_q{4,5}_K_q8_1_impl_vmmq`: for the two sub-blocks `2c + i` of the chunk,
/// `sumf_d += d8 * (dot * sc); sumf_m += d8 * (sum_u * m)`, then `d * sumf_d - dmin * sumf_m`.
/// Each partial is added to the running total `acc` in `iqs` order; returns the new total.
pub(crate) fn vec_dot_affine_k(
    acc: f32,
    d: f16,
    dmin: f16,
    scales: &[u8; K_SCALE_SIZE],
    q: &[u8; QK_K],
    act: &[BlockQ8_1],
) -> f32 {
    let mut sum = acc;
    for iqs in (0..32).step_by(2) {
        let (c, t) = (iqs / 8, (iqs / 2) % 4);
        let mut sumf_d = 0.0f32;
        let mut sumf_m = 0.0f32;
        for i in 0..2 {
            let sub = 2 * c + i;
            let (sc, m) = get_scale_min_k4(sub, scales);
            let b = &act[sub];
            let (dot, sum_u) = dot8_q8_1(q, sub, t, b);
            let d8 = b.d.to_f32();
            sumf_d += d8 * (dot * i32::from(sc)) as f32;
            sumf_m += d8 * (sum_u * i32::from(m)) as f32;
        }
        sum += d.to_f32() * sumf_d - dmin.to_f32() * sumf_m;
    }
    sum
}

impl BlockQ4K {
    /// The 256 unsigned quants (`0..=15`) in element order.
    pub fn quants(&self) -> [u8; QK_K] {
        std::array::from_fn(|e| {
            let byte = self.qs[32 * (e / 64) + e % 32];
            if e % 64 < 32 { byte & 0xF } else { byte >> 4 }
        })
    }
}

impl QuantBlock for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4_K;
    const BLOCK_ELEMS: usize = QK_K;
    type Activation = BlockQ8_1;

    /// ggml-quants.c `dequantize_row_q4_K`: `d1 = d * sc; m1 = dmin * m; y = d1 * q - m1`.
    fn dequantize_block(&self, out: &mut [f32]) {
        let (d, min) = (self.d.to_f32(), self.dmin.to_f32());
        let q = self.quants();
        for (sub, y) in out[..QK_K].chunks_exact_mut(32).enumerate() {
            let (sc, m) = get_scale_min_k4(sub, &self.scales);
            let d1 = d * f32::from(sc);
            let m1 = min * f32::from(m);
            for (yi, &qi) in y.iter_mut().zip(&q[32 * sub..32 * sub + 32]) {
                *yi = d1 * f32::from(qi) - m1;
            }
        }
    }

    /// ggml-quants.c `quantize_row_q4_K_ref`: `make_qkx2_quants(32, 15, …, -1.f, 0.1f, 20,
    /// false)` per sub-block (see [`quantize_affine_k`]).
    fn quantize_block(src: &[f32]) -> Self {
        let k = quantize_affine_k(src, 15, -1.0, 20);
        let mut qs = [0u8; QK_K / 2];
        for c in 0..QK_K / 64 {
            for l in 0..32 {
                qs[32 * c + l] = k.l[64 * c + l] | (k.l[64 * c + 32 + l] << 4);
            }
        }
        BlockQ4K {
            d: k.d,
            dmin: k.dmin,
            scales: k.scales,
            qs,
        }
    }

    /// See [`vec_dot_affine_k`] (`vec_dot_q4_K_q8_1`); partials summed in `(block, iqs)` order.
    fn vec_dot(weights: &[Self], act: &[BlockQ8_1]) -> f32 {
        weights
            .iter()
            .zip(act.chunks_exact(QK_K / 32))
            .fold(0.0f32, |acc, (w, a)| {
                vec_dot_affine_k(acc, w.d, w.dmin, &w.scales, &w.quants(), a)
            })
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
