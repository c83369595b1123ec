//! The scale searches the k-quant and IQ4 quantisers share, ported operation for operation from
//! ggml/src/ggml-quants.c (`nearest_int`, `make_qx_quants`, `make_q3_quants`, `make_qkx2_quants`,
//! `get_scale_min_k4`, `best_index_int8`, `quantize_row_iq4_nl_impl`), so our bytes equal
//! llama.cpp's. Every `f32` expression keeps C's evaluation order; an `int` operand of a float
//! expression is converted exactly where C converts it. Upstream:
//! <https://github.com/ggml-org/llama.cpp/blob/master/ggml/src/ggml-quants.c>
//!
//! llama.cpp built with `-march=native` lets the C compiler contract `a*b + c` into an FMA, which
//! can flip a rounding; the reference here is the uncontracted (baseline x86-64) build.

use half::f16;

/// ggml-quants.c `GROUP_MAX_EPS`: a group whose largest magnitude is below this is all zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml-common.h `kvalues_iq4nl`: the 16 non-linear levels of IQ4_NL and IQ4_XS.
pub(crate) const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// ggml-quants.c `nearest_int`: round half to even through the float mantissa (valid for
/// |x| <= 4194303, as upstream asserts; outside that range the result is garbage, never a panic).
pub(crate) fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12_582_912.0;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// The element of largest magnitude, with its sign, and that magnitude: the `max` and `amax` loop
/// at the top of ggml-quants.c's quantisers (`if (ax > amax) { amax = ax; max = x[i]; }`), so the
/// first of equal magnitudes wins and NaNs are passed over. `(0, 0)` for an all-zero group.
pub(crate) fn max_by_magnitude(x: &[f32]) -> (f32, f32) {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &xi in x {
        let ax = xi.abs();
        if ax > amax {
            amax = ax;
            max = xi;
        }
    }
    (max, amax)
}

/// The smallest and largest element (`(f32::MAX, -f32::MAX)` when there is none that compares),
/// as `quantize_row_q4_1_ref` / `quantize_row_q5_1_ref` find them.
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// ggml-quants.c `make_qx_quants` without importance weights (`qw == NULL`): a symmetric scale for
/// `x` with levels `l` in `[-nmax, nmax - 1]`, stored as `L = l + nmax`. Returns the scale.
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], rmse_type: i32) -> f32 {
    let n = x.len();
    let (max, amax) = max_by_magnitude(x);
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let mut iscale = (-nmax) as f32 / max;
    if rmse_type == 0 {
        for (li, &xi) in l_out.iter_mut().zip(x) {
            *li = (nmax + clamp(nearest_int(iscale * xi))) as i8;
        }
        return 1.0 / iscale;
    }
    let (rmse_type, return_early) = if rmse_type < 0 {
        (-rmse_type, true)
    } else {
        (rmse_type, false)
    };
    let weight = |xi: f32| match rmse_type {
        1 => xi * xi,
        2 => 1.0,
        3 => xi.abs(),
        _ => xi.abs().sqrt(),
    };
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (li, &xi) in l_out.iter_mut().zip(x) {
        let l = clamp(nearest_int(iscale * xi));
        *li = (l + nmax) as i8;
        let w = weight(xi);
        sumlx += w * xi * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    if return_early {
        return if suml2 > 0.0 {
            0.5 * (scale + 1.0 / iscale)
        } else {
            1.0 / iscale
        };
    }
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &xi in x {
            let l = clamp(nearest_int(iscale * xi));
            let w = weight(xi);
            sumlx += w * xi * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (li, &xi) in l_out.iter_mut().zip(x) {
                *li = (nmax + clamp(nearest_int(iscale * xi))) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml-quants.c `make_q3_quants`: a symmetric scale with levels in `[-nmax, nmax - 1]` refined by
/// coordinate descent on the `x²`-weighted error (`do_rmse`); `L = l + nmax`. Returns the scale.
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8], do_rmse: bool) -> f32 {
    let n = x.len();
    let (max, amax) = max_by_magnitude(x);
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let iscale = (-nmax) as f32 / max;
    if do_rmse {
        let mut sumlx = 0.0f32;
        let mut suml2 = 0.0f32;
        for (li, &xi) in l_out.iter_mut().zip(x) {
            let l = clamp(nearest_int(iscale * xi));
            *li = l as i8;
            let w = xi * xi;
            sumlx += w * xi * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        for _ in 0..5 {
            let mut n_changed = 0;
            for (li, &xi) in l_out.iter_mut().zip(x) {
                let w = xi * xi;
                let old = f32::from(*li);
                let mut slx = sumlx - w * xi * old;
                if slx > 0.0 {
                    let mut sl2 = suml2 - w * old * old;
                    let new_l = clamp(nearest_int(xi * sl2 / slx));
                    if new_l != i32::from(*li) {
                        slx += w * xi * new_l as f32;
                        sl2 += w * new_l as f32 * new_l as f32;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            *li = new_l as i8;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                        }
                    }
                }
            }
            if n_changed == 0 {
                break;
            }
        }
        for li in l_out[..n].iter_mut() {
            *li += nmax as i8;
        }
        return if suml2 > 0.0 { sumlx / suml2 } else { 0.0 };
    }
    for (li, &xi) in l_out.iter_mut().zip(x) {
        *li = (clamp(nearest_int(iscale * xi)) + nmax) as i8;
    }
    1.0 / iscale
}

/// ggml-quants.c `make_qkx2_quants`: an asymmetric fit `x ≈ scale * L - the_min` with `L` in
/// `[0, nmax]`, searching `nstep + 1` trial scales `(rmin + rdelta * is + nmax) / (max - min)`
/// and keeping the one with the smallest weighted error (absolute if `use_mad`, else squared).
/// Returns `(scale, the_min)`; `the_min >= 0` is the amount subtracted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out[..n].fill(0);
        return (0.0, -min);
    }
    let error = |diff: f32| if use_mad { diff.abs() } else { diff * diff };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min));
        l_out[i] = l.clamp(0, nmax) as u8;
        let diff = scale * f32::from(l_out[i]) + min - x[i];
        best_error += weights[i] * error(diff);
    }
    if nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    let laux = &mut laux[..n];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * f32::from(laux[i]) + this_min - x[i];
                cur_error += weights[i] * error(diff);
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(laux);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml-quants.c `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) from the
/// 12-byte `scales` of Q4_K/Q5_K. Bytes 0..4 hold scales 0..3 (low 6 bits) and the high 2 bits of
/// scales 4..7; bytes 4..8 the same for mins; bytes 8..12 the low nibbles of scales/mins 4..7.
pub(crate) fn get_scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// ggml-quants.c `best_index_int8`: index of the level in the sorted table `val` nearest to `x`
/// (ties go to the upper level).
pub(crate) fn best_index_int8(val: &[i8; 16], x: f32) -> usize {
    let n = val.len();
    if x <= f32::from(val[0]) {
        return 0;
    }
    if x >= f32::from(val[n - 1]) {
        return n - 1;
    }
    let (mut ml, mut mu) = (0usize, n - 1);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < f32::from(val[mav]) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - f32::from(val[mu - 1]) < f32::from(val[mu]) - x {
        mu - 1
    } else {
        mu
    }
}

/// What [`quantize_iq4_nl_impl`] writes into an IQ4 block.
pub(crate) struct Iq4Quants<const QS: usize> {
    /// Super-block scale (`dh[0]`).
    pub d: f16,
    /// 4-bit level indices: byte `16 * i + j` holds element `32 * i + j` (low nibble) and
    /// `32 * i + 16 + j` (high nibble).
    pub qs: [u8; QS],
    /// High 2 bits of each 6-bit sub-block scale (IQ4_XS only; 0 for IQ4_NL).
    pub scales_h: u16,
    /// Low 4 bits of the sub-block scales, two per byte (IQ4_XS only).
    pub scales_l: [u8; 4],
}

/// ggml-quants.c `quantize_row_iq4_nl_impl` without importance weights (`quant_weights == NULL`,
/// so each element is weighted by `x²`), with `block_size = 32` and levels
/// [`KVALUES_IQ4NL`]. `x.len()` is the super-block size: 32 for IQ4_NL (`QS = 16`), 256 for
/// IQ4_XS (`QS = 128`, eight 6-bit sub-block scales). `ntry` as upstream: 7 in `quantize_iq4_*`.
pub(crate) fn quantize_iq4_nl_impl<const QS: usize>(x: &[f32], ntry: i32) -> Iq4Quants<QS> {
    const BLOCK: usize = 32;
    let values = &KVALUES_IQ4NL;
    let v0 = f32::from(values[0]);
    let super_block = QS * 2;
    let x = &x[..super_block];
    let nblocks = super_block / BLOCK;

    let mut out = Iq4Quants {
        d: f16::ZERO,
        qs: [0u8; QS],
        scales_h: 0,
        scales_l: [0; 4],
    };
    let mut levels = [0u8; 256];
    let levels = &mut levels[..super_block];
    let mut scales = [0.0f32; 8];
    let mut weight = [0.0f32; BLOCK];

    let mut max_scale = 0.0f32;
    let mut amax_scale = 0.0f32;
    for ib in 0..nblocks {
        let xb = &x[ib * BLOCK..(ib + 1) * BLOCK];
        let lb = &mut levels[ib * BLOCK..(ib + 1) * BLOCK];
        for (w, &xj) in weight.iter_mut().zip(xb) {
            *w = xj * xj;
        }
        let (max, amax) = max_by_magnitude(xb);
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        let mut d = if ntry > 0 { -max / v0 } else { max / v0 };
        let mut id = 1.0 / d;
        let mut sumqx = 0.0f32;
        let mut sumq2 = 0.0f32;
        for j in 0..BLOCK {
            let al = id * xb[j];
            let l = best_index_int8(values, al);
            lb[j] = l as u8;
            let q = f32::from(values[l]);
            let w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
        let mut best = d * sumqx;
        for itry in -ntry..=ntry {
            id = (itry + i32::from(values[0])) as f32 / max;
            sumqx = 0.0;
            sumq2 = 0.0;
            for j in 0..BLOCK {
                let al = id * xb[j];
                let q = f32::from(values[best_index_int8(values, al)]);
                let w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        let abs_d = d.abs();
        if abs_d > amax_scale {
            amax_scale = abs_d;
            max_scale = d;
        }
    }

    if nblocks > 1 {
        let d = -max_scale / 32.0;
        out.d = f16::from_f32(d);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..nblocks {
            let l = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * l as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            let xb = &x[ib * BLOCK..(ib + 1) * BLOCK];
            for (lj, &xj) in levels[ib * BLOCK..(ib + 1) * BLOCK].iter_mut().zip(xb) {
                *lj = best_index_int8(values, idl * xj) as u8;
            }
            let l = (l + 32) as u8;
            let (l_l, l_h) = (l & 0xF, l >> 4);
            if ib % 2 == 0 {
                out.scales_l[ib / 2] = l_l;
            } else {
                out.scales_l[ib / 2] |= l_l << 4;
            }
            out.scales_h |= u16::from(l_h) << (2 * (ib % 8));
        }
    } else {
        out.d = f16::from_f32(scales[0]);
        if ntry > 0 {
            let id = if scales[0] != 0.0 {
                1.0 / scales[0]
            } else {
                0.0
            };
            for (lj, &xj) in levels.iter_mut().zip(x) {
                *lj = best_index_int8(values, id * xj) as u8;
            }
        }
    }

    for i in 0..super_block / 32 {
        for j in 0..16 {
            out.qs[16 * i + j] = levels[32 * i + j] | (levels[32 * i + 16 + j] << 4);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even_like_rintf() {
        for (x, want) in [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (3.49, 3),
            (-3.51, -4),
            (127.0, 127),
        ] {
            assert_eq!(nearest_int(x), want, "nearest_int({x})");
        }
        for i in -2000..2000 {
            let x = i as f32 * 0.37;
            assert_eq!(nearest_int(x), x.round_ties_even() as i32);
        }
    }

    #[test]
    fn best_index_int8_picks_the_nearest_level() {
        let v = &KVALUES_IQ4NL;
        assert_eq!(best_index_int8(v, -1000.0), 0);
        assert_eq!(best_index_int8(v, 1000.0), 15);
        for x in -130..=120 {
            let x = x as f32 + 0.25;
            let got = best_index_int8(v, x);
            let best = (0..16)
                .min_by(|&a, &b| {
                    (x - f32::from(v[a]))
                        .abs()
                        .total_cmp(&(x - f32::from(v[b])).abs())
                })
                .unwrap();
            assert_eq!(
                (x - f32::from(v[got])).abs(),
                (x - f32::from(v[best])).abs(),
                "x = {x}"
            );
        }
    }

    #[test]
    fn get_scale_min_k4_unpacks_six_bit_fields() {
        // Scales s_j = 10 + j, mins m_j = 40 + j, packed as quantize_row_q4_K_ref packs them.
        let q = crate::formats::pack_scale_min_k4(
            &std::array::from_fn(|j| 10 + j as u8),
            &std::array::from_fn(|j| 40 + j as u8),
        );
        for j in 0..8 {
            assert_eq!(get_scale_min_k4(j, &q), (10 + j as u8, 40 + j as u8));
        }
    }

    #[test]
    fn non_finite_and_huge_inputs_do_not_panic() {
        use crate::{GgmlType, dequantize_row, quantize_row};
        let mut x: Vec<f32> = (0..512).map(|i| (i as f32 * 0.7).sin()).collect();
        for (i, v) in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            3e38,
            -3e38,
            1e-40,
        ]
        .into_iter()
        .enumerate()
        {
            x[40 * i + 3] = v;
        }
        x[300..340].fill(f32::NAN);
        for ty in [
            GgmlType::Q2_K,
            GgmlType::Q3_K,
            GgmlType::Q4_K,
            GgmlType::Q5_K,
            GgmlType::Q6_K,
            GgmlType::Q8_K,
            GgmlType::IQ4_NL,
            GgmlType::IQ4_XS,
        ] {
            let bytes = quantize_row(ty, &x).expect("whole blocks");
            assert_eq!(bytes.len(), 512 / ty.block_elems() * ty.block_bytes());
            let mut y = vec![0.0f32; 512];
            dequantize_row(ty, &bytes, &mut y).expect("whole blocks");
        }
    }

    #[test]
    fn make_qkx2_quants_fits_an_exact_affine_grid() {
        // x = 0.25 * l - 1.0 for l = 0..=15 repeated: the fit recovers scale 0.25 and min 1.0.
        let x: Vec<f32> = (0..32).map(|i| 0.25 * (i % 16) as f32 - 1.0).collect();
        let w = vec![1.0f32; 32];
        let mut l = [0u8; 32];
        let (scale, min) = make_qkx2_quants(15, &x, &w, &mut l, -1.0, 0.1, 20, false);
        assert!((scale - 0.25).abs() < 1e-6, "scale {scale}");
        assert!((min - 1.0).abs() < 1e-6, "min {min}");
        for (i, &li) in l.iter().enumerate() {
            assert_eq!(usize::from(li), i % 16);
        }
    }

    #[test]
    fn make_qx_and_q3_quants_recover_a_symmetric_grid() {
        // x = 0.5 * l for l in [-4, 3]: the level indices come back as l + 4, the scale as ±0.5.
        let x: Vec<f32> = (0..16).map(|i| 0.5 * ((i % 8) as f32 - 4.0)).collect();
        let mut l = [0i8; 16];
        let scale = make_q3_quants(4, &x, &mut l, true);
        assert!((scale.abs() - 0.5).abs() < 1e-6, "scale {scale}");
        for (i, &li) in l.iter().enumerate() {
            let back = scale * f32::from(li - 4);
            assert!((back - x[i]).abs() < 1e-6, "{i}: {back} vs {}", x[i]);
        }
        let scale = make_qx_quants(4, &x, &mut l, 1);
        for (i, &li) in l.iter().enumerate() {
            let back = scale * f32::from(li - 4);
            assert!((back - x[i]).abs() < 1e-6, "{i}: {back} vs {}", x[i]);
        }
    }
}

/// Byte- and bit-exact comparisons with llama.cpp itself.
#[cfg(test)]
mod llama_cpp_fixtures;

/// Checks shared by the k-quant and IQ4 format tests.
#[cfg(test)]
pub(crate) mod test_support;
