//! What Q4_K and Q5_K share: 256 weights in 8 sub-blocks of 32, unsigned quants `q` with a 6-bit
//! scale and a 6-bit min per sub-block, both scaled by f16 super-block factors:
//! `x = d * sc * q - dmin * m`. The two formats differ only in how many bits a quant has and
//! where the fifth bit is stored.

use super::q2_k::QK_K;
use crate::BlockQ8_1;
use crate::kquant_search::{get_scale_min_k4, make_qkx2_quants, nearest_int};
use half::f16;

/// ggml's `K_SCALE_SIZE`: bytes of packed 6-bit scales and mins in Q4_K/Q5_K.
pub(crate) const K_SCALE_SIZE: usize = 12;

/// A Q4_K or Q5_K block: its super-block factors, packed scales and unpacked quants.
pub(crate) trait AffineKBlock {
    /// `(d, dmin, scales)`.
    fn factors(&self) -> (f16, f16, &[u8; K_SCALE_SIZE]);
    /// The 256 unsigned quants in element order.
    fn unpacked(&self) -> [u8; QK_K];
}

/// ggml-quants.c `dequantize_row_q4_K` / `dequantize_row_q5_K`: `d1 = d * sc; m1 = dmin * m;
/// y = d1 * q - m1`.
pub(crate) fn dequantize_affine_k(block: &impl AffineKBlock, out: &mut [f32]) {
    let (d, dmin, scales) = block.factors();
    let (d, min) = (d.to_f32(), dmin.to_f32());
    let q = block.unpacked();
    for (sub, y) in out[..QK_K].chunks_exact_mut(32).enumerate() {
        let (sc, m) = get_scale_min_k4(sub, scales);
        let d1 = d * f32::from(sc);
        let m1 = min * f32::from(m);
        for (yi, &qi) in y.iter_mut().zip(&q[32 * sub..32 * sub + 32]) {
            *yi = d1 * f32::from(qi) - m1;
        }
    }
}

/// Byte `32 * c + l` of `qs` holds the low 4 bits of element `64 * c + l` (low nibble) and of
/// element `64 * c + 32 + l` (high nibble); returns those 4-bit values in element order.
pub(crate) fn unpack_k_nibbles(qs: &[u8; QK_K / 2]) -> [u8; QK_K] {
    std::array::from_fn(|e| {
        let byte = qs[32 * (e / 64) + e % 32];
        if e % 64 < 32 { byte & 0xF } else { byte >> 4 }
    })
}

/// Packs the low 4 bits of each quant the way [`unpack_k_nibbles`] reads them.
pub(crate) fn pack_k_nibbles(l: &[u8; QK_K]) -> [u8; QK_K / 2] {
    std::array::from_fn(|i| {
        let (c, l_idx) = (i / 32, i % 32);
        (l[64 * c + l_idx] & 0xF) | ((l[64 * c + 32 + l_idx] & 0xF) << 4)
    })
}

/// Packs eight 6-bit scales `ls` and mins `lm` into 12 bytes, as `quantize_row_q4_K_ref` does
/// (inverse of `get_scale_min_k4`).
pub(crate) fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; K_SCALE_SIZE] {
    let mut packed = [0u8; K_SCALE_SIZE];
    for j in 0..8 {
        let (ls, lm) = (ls[j], lm[j]);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    packed
}

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
    let ls: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_scale * scales[j]) as u8).min(63));
    let lm: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_min * mins[j]) as u8).min(63));
    let packed = pack_scale_min_k4(&ls, &lm);
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
fn dot8_q8_1(q: &[u8; QK_K], sub: usize, t: usize, b: &BlockQ8_1) -> (i32, i32) {
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
/// Each partial is added to the running total in `(block, iqs)` order; `act` holds 8 Q8_1 blocks
/// per weight block.
pub(crate) fn vec_dot_affine_k<B: AffineKBlock>(weights: &[B], act: &[BlockQ8_1]) -> f32 {
    let mut sum = 0.0f32;
    for (w, act) in weights.iter().zip(act.chunks_exact(QK_K / 32)) {
        let (d, dmin, scales) = w.factors();
        let q = w.unpacked();
        for iqs in (0..32).step_by(2) {
            let (c, t) = (iqs / 8, (iqs / 2) % 4);
            let mut sumf_d = 0.0f32;
            let mut sumf_m = 0.0f32;
            for i in 0..2 {
                let sub = 2 * c + i;
                let (sc, m) = get_scale_min_k4(sub, scales);
                let b = &act[sub];
                let (dot, sum_u) = dot8_q8_1(&q, sub, t, b);
                let d8 = b.d.to_f32();
                sumf_d += d8 * (dot * i32::from(sc)) as f32;
                sumf_m += d8 * (sum_u * i32::from(m)) as f32;
            }
            sum += d.to_f32() * sumf_d - dmin.to_f32() * sumf_m;
        }
    }
    sum
}
