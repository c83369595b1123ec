//! The tensor-core gemv (`Gemv::tensor_core`) on the CPU PTX emulator (`emu`, which runs
//! `mma.sync` with the PTX ISA fragment layouts) against quant-formats' `vec_dot_row`: ragged
//! row counts (a partial 16-row tile), super-block counts that leave some warps idle, every
//! warp count, M = 1..8, the fused gate/up/SwiGLU variant, and bit-identical columns across M.

mod emu;

use emu::gemv::{reference_rows, run_gemv};
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::{Gemv, KernelType, SmTarget, mma_format_for};
use quant_formats::GgmlType;

const FORMATS: [GgmlType; 2] = [GgmlType::Q4_K, GgmlType::Q5_K];

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    for (r, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * w.abs().max(1.0),
            "{what} row {r}: got {g}, want {w}"
        );
    }
}

#[test]
fn tensor_core_gemv_matches_vec_dot_and_is_batch_invariant() {
    for format in FORMATS {
        assert!(mma_format_for(format).is_some());
        // 21 rows: one full tile and a partial one; 5 super-blocks: idle warps at w8, a
        // ragged last trip at w2 and w4.
        let (n, k) = (21usize, 5 * 256);
        let w = quantized_matrix(format, 21, n, k);
        for warps in [1u8, 2, 4, 8] {
            let mut column0: Vec<Vec<u32>> = Vec::new();
            if Gemv::tensor_core(format, 1, warps, SmTarget::Sm90).is_err() {
                // Two-matrix Q5_K stages for eight warps exceed the shared memory.
                assert_eq!((format, warps), (GgmlType::Q5_K, 8));
                continue;
            }
            for m in [1usize, 2, 3, 4, 8] {
                let (x, acts) = gemv_activations(format, &nonzero(22, m * k), k);
                let g = Gemv::tensor_core(format, m as u8, warps, SmTarget::Sm90).unwrap();
                let kt = KernelType::Gemv(g);
                let y = run_gemv(&kt, &[&w], &x, n, k, m);
                for (j, act) in acts.iter().enumerate() {
                    let what = format!("{} column {j}", kt.entry_name());
                    assert_close(&y[j * n..][..n], &reference_rows(format, &w, n, act), &what);
                }
                column0.push(y[..n].iter().map(|v| v.to_bits()).collect());
            }
            assert!(
                column0.windows(2).all(|p| p[0] == p[1]),
                "{format} w{warps}: column 0 differs between M values"
            );
        }
    }
}

#[test]
fn tensor_core_gate_up_swiglu_matches_silu_of_vec_dots() {
    for format in FORMATS {
        let (n, k, m) = (19usize, 3 * 256, 5usize);
        let gate = quantized_matrix(format, 31, n, k);
        let up = quantized_matrix(format, 32, n, k);
        let (x, acts) = gemv_activations(format, &nonzero(33, m * k), k);
        let g = Gemv::tensor_core(format, m as u8, 2, SmTarget::Sm90).unwrap();
        let kt = KernelType::Gemv(g.with_gate_up_swiglu());
        let y = run_gemv(&kt, &[&gate, &up], &x, n, k, m);
        for (j, act) in acts.iter().enumerate() {
            let want: Vec<f32> = reference_rows(format, &gate, n, act)
                .into_iter()
                .zip(reference_rows(format, &up, n, act))
                .map(|(gv, uv)| gv / (1.0 + (-gv).exp()) * uv)
                .collect();
            assert_close(
                &y[j * n..][..n],
                &want,
                &format!("{} column {j}", kt.entry_name()),
            );
        }
    }
}

#[test]
fn tensor_core_variants_exist_only_for_mma_formats() {
    assert!(Gemv::tensor_core(GgmlType::Q6_K, 1, 4, SmTarget::Sm90).is_err());
    assert!(Gemv::tensor_core(GgmlType::Q4_K, 9, 4, SmTarget::Sm90).is_err());
    assert!(Gemv::tensor_core(GgmlType::Q4_K, 1, 3, SmTarget::Sm90).is_err());
    let g = Gemv::tensor_core(GgmlType::Q4_K, 2, 4, SmTarget::Sm90).unwrap();
    assert!(g.uses_tensor_cores());
    assert!(!g.l2_prefetched().prefetches_l2());
    assert!(!g.staged().stages_weights());
    assert_eq!(g.entry_name(), "gemv_q4_k_m2_w4_r16_tc");
}
