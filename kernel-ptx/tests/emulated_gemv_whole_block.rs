//! The whole-block gemv (`Gemv::whole_blocks`) on the CPU PTX emulator (`emu`) against
//! quant-formats' `vec_dot_row`, and bit for bit against the tensor-core body with as many
//! warps as it has slices: ragged row counts (a partial warp), super-block counts that leave
//! slices idle or a step partial, every slice count, one to three stages, M = 1..8, the
//! fused gate/up/SwiGLU variant, and persistent launches (fewer blocks than row groups).

mod emu;

use emu::gemv::{reference_rows, run_gemv};
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::{Gemv, KernelType, SmTarget};
use quant_formats::GgmlType;

const FORMATS: [GgmlType; 2] = [GgmlType::Q4_K, GgmlType::Q5_K];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn whole_block_gemv_matches_vec_dot_and_the_tensor_cores_bit_for_bit() {
    // 21 rows: partial warps at every slice count; 5 super-blocks: idle slices at 8, a
    // partial last step at 2 and 4.
    let (n, k) = (21usize, 5 * 256);
    for format in FORMATS {
        let w = quantized_matrix(format, 41, n, k);
        for (slices, warps, stages) in [
            (1u8, 1u8, 2u8),
            (2, 2, 1),
            (4, 1, 3),
            (8, 1, 2),
            (8, 2, 2),
            (8, 4, 1),
        ] {
            for m in [1usize, 2, 3, 8] {
                let (x, acts) = gemv_activations(format, &nonzero(42, m * k), k);
                let Ok(g) =
                    Gemv::whole_blocks(format, m as u8, slices, warps, stages, SmTarget::Sm90)
                else {
                    // Four warps' two-matrix Q5_K stages and the fold of many columns exceed
                    // 48 KiB.
                    assert_eq!((format, warps), (GgmlType::Q5_K, 4), "m = {m}");
                    continue;
                };
                assert!(g.uses_whole_blocks());
                let kt = KernelType::Gemv(g);
                let y = run_gemv(&kt, &[&w], &x, n, k, m);
                for (j, act) in acts.iter().enumerate() {
                    for (r, (got, want)) in y[j * n..][..n]
                        .iter()
                        .zip(reference_rows(format, &w, n, act))
                        .enumerate()
                    {
                        assert!(
                            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                            "{} column {j} row {r}: got {got}, want {want}",
                            kt.entry_name()
                        );
                    }
                }
                // Persistent: two blocks loop over every row group.
                let looped = KernelType::Gemv(g.persistent(1, 2).unwrap());
                let y_looped = run_gemv(&looped, &[&w], &x, n, k, m);
                assert_eq!(bits(&y), bits(&y_looped), "{}", looped.entry_name());
                let Ok(tc) = Gemv::tensor_core(format, m as u8, slices, SmTarget::Sm90) else {
                    // Two-matrix Q5_K stages for eight warps exceed the tensor-core body's
                    // shared memory.
                    assert_eq!((format, slices), (GgmlType::Q5_K, 8));
                    continue;
                };
                assert_eq!(tc.arithmetic(), g.arithmetic());
                let y_tc = run_gemv(&KernelType::Gemv(tc), &[&w], &x, n, k, m);
                assert_eq!(
                    bits(&y),
                    bits(&y_tc),
                    "{} against tensor cores",
                    kt.entry_name()
                );
            }
        }
    }
}

#[test]
fn whole_block_gate_up_swiglu_matches_the_tensor_cores_bit_for_bit() {
    let (n, k, m) = (13usize, 3 * 256, 2usize);
    for format in FORMATS {
        let gate = quantized_matrix(format, 51, n, k);
        let up = quantized_matrix(format, 52, n, k);
        let (x, acts) = gemv_activations(format, &nonzero(53, m * k), k);
        let g = Gemv::whole_blocks(format, m as u8, 4, 2, 2, SmTarget::Sm90).unwrap();
        let kt = KernelType::Gemv(g.persistent(1, 1).unwrap().with_gate_up_swiglu());
        let y = run_gemv(&kt, &[&gate, &up], &x, n, k, m);
        for (j, act) in acts.iter().enumerate() {
            let gate_dots = reference_rows(format, &gate, n, act);
            let up_dots = reference_rows(format, &up, n, act);
            for r in 0..n {
                let want = gate_dots[r] / (1.0 + (-gate_dots[r]).exp()) * up_dots[r];
                let got = y[j * n + r];
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{} column {j} row {r}: got {got}, want {want}",
                    kt.entry_name()
                );
            }
        }
        let tc = Gemv::tensor_core(format, m as u8, 4, SmTarget::Sm90).unwrap();
        let y_tc = run_gemv(
            &KernelType::Gemv(tc.with_gate_up_swiglu()),
            &[&gate, &up],
            &x,
            n,
            k,
            m,
        );
        assert_eq!(bits(&y), bits(&y_tc), "{}", kt.entry_name());
    }
}

#[test]
fn whole_block_variants_check_their_geometry() {
    let new = |format, slices, warps, stages| {
        Gemv::whole_blocks(format, 1, slices, warps, stages, SmTarget::Sm90)
    };
    assert!(new(GgmlType::Q6_K, 8, 1, 2).is_err());
    assert!(new(GgmlType::Q4_K, 3, 1, 2).is_err());
    assert!(new(GgmlType::Q4_K, 8, 1, 4).is_err());
    // At most one warp per slice.
    assert!(new(GgmlType::Q4_K, 2, 2, 1).is_ok());
    assert!(new(GgmlType::Q4_K, 2, 4, 1).is_err());
    // Eight warps of one 9 KiB two-matrix stage exceed 48 KiB; four fit.
    assert!(new(GgmlType::Q4_K, 8, 8, 1).is_err());
    assert_eq!(new(GgmlType::Q4_K, 8, 4, 1).unwrap().rows(), 16);
    // Four warps of two plain stages fit; fused, they keep one.
    let fused = new(GgmlType::Q4_K, 8, 4, 2).unwrap().with_gate_up_swiglu();
    assert_eq!(
        fused.entry_name(),
        "gemv_gate_up_swiglu_q4_k_m1_w4_r16_wb8x1"
    );
    let g = new(GgmlType::Q4_K, 8, 2, 2).unwrap();
    assert_eq!(g.rows(), 8);
    assert!(!g.l2_prefetched().prefetches_l2() && !g.staged().stages_weights());
    assert_eq!(g.entry_name(), "gemv_q4_k_m1_w2_r8_wb8x2");
    let p = g.persistent(132, 12).unwrap();
    assert_eq!(p.entry_name(), "gemv_q4_k_m1_w2_r8_wb8x2_b12");
    assert!(g.persistent(0, 12).is_err() && g.persistent(132, 33).is_err());
    let dims = |n| kernel_ptx::LaunchDims {
        n,
        k: 4096,
        m: 1,
        rows: 0,
    };
    let grid = |g: Gemv, n| KernelType::Gemv(g).launch(&dims(n)).unwrap().grid[0];
    assert_eq!(
        (grid(g, 14336), grid(p, 14336), grid(p, 800)),
        (1792, 1584, 100)
    );
    // Other bodies ignore it.
    let tc = Gemv::tensor_core(GgmlType::Q4_K, 1, 8, SmTarget::Sm90).unwrap();
    assert_eq!(tc.persistent(132, 4).unwrap(), tc);
}
