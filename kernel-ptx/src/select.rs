//! Variant selection: a pure function of format, batch columns and the device profile.

use crate::kernels::gemv;
use crate::{Gemv, KernelError, KernelType, SmTarget};
use quant_formats::GgmlType;

/// What selection needs to know about the device (gpu-runtime fills it from the driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GpuProfileLite {
    pub sm_count: u32,
    /// Compute capability `(major, minor)`.
    pub compute_capability: (u32, u32),
}

/// A weight matrix's shape: `n` rows (outputs) of `k` columns (the inner dimension).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WeightShape {
    pub n: u32,
    pub k: u32,
}

/// The matrix-vector kernel for `format` weights of `shape` and `m` activation columns (1..=8)
/// on `profile`.
///
/// Warps per block depend on the format and device only, never on `m`, so the outputs for one
/// column are bit-identical at every `m` (batch invariance); rows per block, warp groups, the
/// L2 prefetch and early weights (which do not change a column's arithmetic) may depend on `m`
/// and the shape.
pub fn select_matvec(
    format: GgmlType,
    m: u32,
    shape: WeightShape,
    profile: &GpuProfileLite,
) -> Result<KernelType, KernelError> {
    let k = shape.k;
    let (target, m) = target_and_m(m, profile)?;
    let (warps, rows) = gemv::default_geometry(format);
    let rows = rows_for(format, m, k).unwrap_or(rows);
    let g = Gemv::new(format, m, warps, rows, target)?;
    let g = if m >= L2_PREFETCH_FROM_M {
        g.l2_prefetched()
    } else {
        g
    };
    let g = if loads_weights_early(format, m) {
        g.weights_before_wait(profile.sm_count, EARLY_BLOCKS_PER_SM)?
    } else {
        g
    };
    Ok(KernelType::Gemv(
        g.with_warp_groups(warp_groups_for(format, m, shape))?,
    ))
}

/// Rows (`n`) from which a matrix counts as wide (the FFN gate/up projections).
const WIDE_N: u32 = 8192;

/// Independent one-warp bodies per block (`Gemv::with_warp_groups`) where the H200 measured
/// them faster at M = 1 (docs/gemv-tuning.md v15, µs one → grouped): Q4_K gate/up 10.37 →
/// 9.88 (two); Q2_K gate/up 9.67 → 8.73 (two), ffn_down 10.25 → 9.37 and attn_q/o 4.20 → 3.75
/// (eight); Q5_0 and Q5_1 attn_q/o 6.11 → 5.18 and 6.27 → 5.98 (eight). Elsewhere within
/// noise or slower (Q5_K two: 12.57 → 12.93; eight at gate/up: Q5_0 14.0 → 15.5). Eight
/// groups only from n = 4096 rows, so a matrix still spreads over every SM. Groups leave a
/// column's arithmetic unchanged.
fn warp_groups_for(format: GgmlType, m: u8, WeightShape { n, k }: WeightShape) -> u8 {
    use GgmlType::{Q2_K, Q4_K, Q5_0, Q5_1};
    let long_rows = k >= Q4_K_LONG_ROW_K;
    match (format, m) {
        (Q4_K | Q2_K, 1) if n >= WIDE_N && !long_rows => 2,
        (Q2_K, 1) if n >= 4096 => 8,
        (Q5_0 | Q5_1, 1) if (4096..WIDE_N).contains(&n) && !long_rows => 8,
        _ => 1,
    }
}

/// Blocks per SM of the first wave that load their first trip's weights before waiting on
/// the previous grid (`Gemv::weights_before_wait`).
pub const EARLY_BLOCKS_PER_SM: u8 = 8;

/// Where the first wave's early weights pay (H200, docs/gemv-tuning.md v13): the k-quant
/// dp4a bodies at M = 1 (Q4_K ffn_down 10.5 → 10.2 µs, attn_q/o 4.8 → 3.9; Q6_K 16.5 → 16.0,
/// 6.1 → 5.6; output within noise). Q8_0 gained nothing and F16 lost 2–7 %; M ≥ 2 was not
/// better.
fn loads_weights_early(format: GgmlType, m: u8) -> bool {
    use GgmlType::{Q4_K, Q5_K, Q6_K};
    m == 1 && matches!(format, Q4_K | Q5_K | Q6_K)
}

/// The tensor-core variant (`Gemv::tensor_core`) for `format` at `m` columns, for formats
/// that have one (Q4_K, Q5_K); `None` otherwise.
///
/// Not what [`select_matvec`] returns: a column must be computed the same way at every M, so
/// one body serves M = 1..8, and on the H200 this one is slower at M = 1 (Q4_K 14.0 µs
/// against 10.5 at 14336×4096) though faster from M = 4 (M = 8: 17–19 µs against 26;
/// docs/gemv-tuning.md v9). Eight warps per tile (Q5_K: four, the most whose two-matrix
/// stages fit shared memory), the fastest at M = 1 in that sweep.
pub fn select_tensor_core_matvec(
    format: GgmlType,
    m: u32,
    profile: &GpuProfileLite,
) -> Result<Option<KernelType>, KernelError> {
    let (target, m) = target_and_m(m, profile)?;
    let warps = match format {
        GgmlType::Q4_K => 8,
        GgmlType::Q5_K => 4,
        _ => return Ok(None),
    };
    Ok(Some(KernelType::Gemv(Gemv::tensor_core(
        format, m, warps, target,
    )?)))
}

/// The PTX target of `profile` and `m` checked to 1..=8.
fn target_and_m(m: u32, profile: &GpuProfileLite) -> Result<(SmTarget, u8), KernelError> {
    let (major, minor) = profile.compute_capability;
    let target = SmTarget::for_compute_capability(major, minor).ok_or_else(|| {
        KernelError::InvalidVariant {
            family: "gemv",
            reason: format!("compute capability {major}.{minor} is below sm_80"),
        }
    })?;
    let m = u8::try_from(m)
        .ok()
        .filter(|m| (1..=gemv::MAX_M).contains(m))
        .ok_or_else(|| KernelError::InvalidVariant {
            family: "gemv",
            reason: format!("m = {m} outside 1..={}", gemv::MAX_M),
        })?;
    Ok((target, m))
}

/// Inner dimension from which Q4_K at M = 1 takes one row per block (docs/gemv-tuning.md v7).
const Q4_K_LONG_ROW_K: u32 = 8192;

/// Smallest M whose kernels prefetch their rows into L2 before waiting on the previous grid
/// (`Gemv::l2_prefetched`). H200, docs/gemv-tuning.md v7: Q4_K M = 4 13–20 % faster with it,
/// M = 8 up to 4 %, Q6_K/Q8_0 M ≥ 4 within noise; at M = 1 it costs Q4_K 8–12 % and F16 14 %.
const L2_PREFETCH_FROM_M: u8 = 3;

/// Rows per block where the H200 sweeps (docs/gemv-tuning.md v4, v5, v7 and v12) measured a
/// better choice than the format's default rows. Rows do not change a column's arithmetic
/// (only `warps` does: it fixes which blocks each thread visits and the cross-warp sum), so they
/// may depend on `m` without breaking batch invariance.
///
/// No selected variant stages its weights through shared memory: the last formats it paid for
/// (Q6_K at M ≤ 4, Q8_0 at M ≥ 5) lost it once their threads read aligned words (v12: Q8_0
/// M = 8 35.2 / 28.5 µs unstaged against 49.5 / 34.4 staged); `Gemv::staged` stays for the
/// bench's twins.
fn rows_for(format: GgmlType, m: u8, k: u32) -> Option<u8> {
    use GgmlType::{BF16, F16, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q6_K, Q8_0};
    Some(match (format, m) {
        // The 32-element formats at four words per thread (v13): one row for long rows at
        // M = 1 (Q4_0 ffn_down 10.4 µs against 12.1 at two), two (the default) otherwise to
        // M = 2, four from M = 3 (M = 8 gate/up 24.0 µs against 28.6 at two).
        (Q4_0 | Q4_1 | Q5_0 | Q5_1, 1) if k >= Q4_K_LONG_ROW_K => 1,
        (Q4_0 | Q4_1 | Q5_0 | Q5_1, 3..) => 4,
        // Q3_K's default is one row (its decoded weights take 21 registers per row and
        // visit): long rows keep it at M = 1, others take two to M = 7 (gate/up M = 1 15.1 µs
        // against 19.0; M = 8 45.9 / 43.4 against 78.9 / 75.4), but the fused kernel, which
        // shares the geometry, spills at M = 8 with two rows (and from M = 4 with four, which
        // would be faster still: M = 8 36.0 / 32.1 µs; so would four rows for Q2_K, 33.0 /
        // 32.1 against 39.7 / 39.4 at its default two).
        (Q3_K, 1) if k >= Q4_K_LONG_ROW_K => 1,
        (Q3_K, 1..=7) => 2,
        // Long rows (ffn_down, k = 14336) give a one-warp block long serial work: one row per
        // block doubles the warps in flight (M = 1: 10.5 µs against 12.4 at two rows; at
        // M = 2 two rows stay faster, 12.3 against 16.5).
        (Q4_K, 1) if k >= Q4_K_LONG_ROW_K => 1,
        (Q4_K, 1..=2) => 2,
        (Q4_K, _) => 4,
        // Two rows (the default) up to M = 2, four after (v12).
        (Q6_K, 3..) => 4,
        // Four rows (the default) from M = 3, two before (v12).
        (Q8_0, 1..=2) => 2,
        // One row at M = 1 (99 % of copy bandwidth); four rows share each column's
        // activations from M = 2 (M = 8: 52–56 µs against 141–155 µs at one row). BF16 has
        // F16's chunk shape and register use.
        (F16 | BF16, 2..) => 4,
        _ => return None,
    })
}

/// The fused `silu(W_gate · x) * (W_up · x)` kernel for `format` weights and `m` columns, with
/// the geometry of [`select_matvec`] (so its columns match the unfused kernels' bit for bit).
pub fn select_gate_up_swiglu(
    format: GgmlType,
    m: u32,
    shape: WeightShape,
    profile: &GpuProfileLite,
) -> Result<KernelType, KernelError> {
    match select_matvec(format, m, shape, profile)? {
        KernelType::Gemv(g) => Ok(KernelType::Gemv(g.with_gate_up_swiglu())),
        other => Err(KernelError::InvalidVariant {
            family: "gemv",
            reason: format!("select_matvec returned {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H200: GpuProfileLite = GpuProfileLite {
        sm_count: 132,
        compute_capability: (9, 0),
    };
    const A100: GpuProfileLite = GpuProfileLite {
        sm_count: 108,
        compute_capability: (8, 0),
    };

    fn gemv_of(kt: KernelType) -> Gemv {
        match kt {
            KernelType::Gemv(g) => g,
            other => panic!("expected a gemv, got {other:?}"),
        }
    }

    #[test]
    fn body_and_warps_are_the_same_for_every_m() {
        for format in gemv::formats() {
            for k in [4096, 14336] {
                let first =
                    gemv_of(select_matvec(format, 1, WeightShape { n: 4096, k }, &H200).unwrap());
                for m in 1..=8 {
                    let g = gemv_of(
                        select_matvec(format, m, WeightShape { n: 4096, k }, &H200).unwrap(),
                    );
                    assert_eq!(g.m(), m as u8);
                    assert_eq!(g.format(), format);
                    assert_eq!(g.warps(), first.warps(), "{format} m={m} k={k}");
                    assert_eq!(g.uses_tensor_cores(), first.uses_tensor_cores());
                }
            }
        }
    }

    #[test]
    fn tensor_core_variants_only_for_mma_formats_and_never_selected() {
        for format in gemv::formats() {
            let tc = select_tensor_core_matvec(format, 8, &H200).unwrap();
            let want = matches!(format, GgmlType::Q4_K | GgmlType::Q5_K);
            assert_eq!(tc.is_some(), want, "{format}");
            if let Some(tc) = tc {
                let g = gemv_of(tc);
                assert!(g.uses_tensor_cores());
                assert!(g.with_gate_up_swiglu().uses_tensor_cores());
            }
            assert!(
                !gemv_of(
                    select_matvec(format, 8, WeightShape { n: 4096, k: 4096 }, &H200).unwrap()
                )
                .uses_tensor_cores()
            );
        }
    }

    #[test]
    fn gate_up_swiglu_shares_the_matvec_geometry() {
        for format in gemv::formats() {
            for m in 1..=8 {
                let plain = gemv_of(
                    select_matvec(format, m, WeightShape { n: 4096, k: 4096 }, &H200).unwrap(),
                );
                let fused = gemv_of(
                    select_gate_up_swiglu(format, m, WeightShape { n: 4096, k: 4096 }, &H200)
                        .unwrap(),
                );
                assert!(fused.is_gate_up_swiglu() && !plain.is_gate_up_swiglu());
                assert_eq!(
                    (fused.format(), fused.m(), fused.warps(), fused.rows()),
                    (plain.format(), plain.m(), plain.warps(), plain.rows())
                );
                assert_eq!(fused.stages_weights(), plain.stages_weights());
            }
        }
    }

    #[test]
    fn q4_k_takes_one_row_per_block_for_long_rows_at_m1() {
        let rows = |m, k| {
            gemv_of(select_matvec(GgmlType::Q4_K, m, WeightShape { n: 4096, k }, &H200).unwrap())
                .rows()
        };
        assert_eq!((rows(1, 4096), rows(1, 14336)), (2, 1));
        assert_eq!((rows(2, 4096), rows(2, 14336)), (2, 2));
        assert_eq!((rows(8, 4096), rows(8, 14336)), (4, 4));
    }

    #[test]
    fn warp_groups_only_where_measured_and_only_at_m1() {
        let groups = |format, m, n, k| {
            gemv_of(select_matvec(format, m, WeightShape { n, k }, &H200).unwrap()).warp_groups()
        };
        assert_eq!(groups(GgmlType::Q4_K, 1, 14336, 4096), 2);
        assert_eq!(groups(GgmlType::Q4_K, 1, 4096, 4096), 1);
        assert_eq!(groups(GgmlType::Q4_K, 1, 4096, 14336), 1);
        assert_eq!(groups(GgmlType::Q2_K, 1, 4096, 14336), 8);
        assert_eq!(groups(GgmlType::Q2_K, 1, 1024, 4096), 1);
        assert_eq!(groups(GgmlType::Q5_0, 1, 4096, 4096), 8);
        assert_eq!(groups(GgmlType::Q5_0, 1, 14336, 4096), 1);
        for format in gemv::formats() {
            for m in 2..=8 {
                assert_eq!(groups(format, m, 14336, 4096), 1, "{format} m={m}");
                assert_eq!(groups(format, m, 4096, 4096), 1, "{format} m={m}");
            }
        }
    }

    #[test]
    fn selection_never_stages() {
        for format in gemv::formats() {
            for m in 1..=8 {
                let g = gemv_of(
                    select_matvec(format, m, WeightShape { n: 4096, k: 4096 }, &H200).unwrap(),
                );
                assert!(!g.stages_weights(), "{format} m={m}");
            }
        }
    }

    #[test]
    fn target_follows_compute_capability() {
        assert_eq!(
            select_matvec(GgmlType::Q8_0, 1, WeightShape { n: 4096, k: 4096 }, &H200)
                .unwrap()
                .target(),
            SmTarget::Sm90
        );
        assert_eq!(
            select_matvec(GgmlType::Q8_0, 1, WeightShape { n: 4096, k: 4096 }, &A100)
                .unwrap()
                .target(),
            SmTarget::Sm80
        );
        let ada = GpuProfileLite {
            sm_count: 128,
            compute_capability: (8, 9),
        };
        assert_eq!(
            select_matvec(GgmlType::Q8_0, 1, WeightShape { n: 4096, k: 4096 }, &ada)
                .unwrap()
                .target(),
            SmTarget::Sm80
        );
        let turing = GpuProfileLite {
            sm_count: 40,
            compute_capability: (7, 5),
        };
        assert!(
            select_matvec(GgmlType::Q8_0, 1, WeightShape { n: 4096, k: 4096 }, &turing).is_err()
        );
    }

    #[test]
    fn out_of_range_m_and_unknown_formats_are_errors() {
        assert!(select_matvec(GgmlType::Q8_0, 0, WeightShape { n: 4096, k: 4096 }, &H200).is_err());
        assert!(select_matvec(GgmlType::Q8_0, 9, WeightShape { n: 4096, k: 4096 }, &H200).is_err());
        assert!(
            select_gate_up_swiglu(GgmlType::Q4_K, 9, WeightShape { n: 4096, k: 4096 }, &H200)
                .is_err()
        );
        assert!(matches!(
            select_matvec(GgmlType::Q8_1, 1, WeightShape { n: 4096, k: 4096 }, &H200),
            Err(KernelError::UnsupportedFormat {
                format: GgmlType::Q8_1,
                ..
            })
        ));
    }
}
