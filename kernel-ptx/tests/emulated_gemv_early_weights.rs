//! First-wave blocks loading their first K-loop trip's weights before the grid-dependency wait
//! (`Gemv::weights_before_wait`) on the CPU PTX emulator (`emu`): bit-identical to the plain
//! variant for every format, over rows of a ragged number of visits and rows shorter than
//! one trip, with one first-wave block (the others wait first) and with every block in it.

mod emu;

use emu::gemv::run_gemv;
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::kernels::gemv::default_geometry;
use kernel_ptx::{Gemv, KernelType, SmTarget, gemv_formats};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn weights_before_the_grid_wait_change_no_bit() {
    for (sm_count, blocks_per_sm) in [(1, 1), (132, 32)] {
        for format in gemv_formats() {
            let (warps, rows) = default_geometry(format);
            for (m, fused) in [(1u8, false), (2, false), (1, true)] {
                let mut g = Gemv::new(format, m, warps, rows, SmTarget::Sm90).unwrap();
                if fused {
                    g = g.with_gate_up_swiglu();
                }
                let early = g.weights_before_wait(sm_count, blocks_per_sm).unwrap();
                assert!(early.loads_weights_before_wait(), "{format}");
                assert!(early.entry_name().ends_with(&format!("_ew{blocks_per_sm}")));
                let per_visit = g.blocks_per_visit() as usize;
                // 11 visits and a part-filled twelfth; a row shorter than one visit.
                for blocks in [11 * per_visit + per_visit / 2 + 1, 1] {
                    let (n, k) = (5usize, blocks * g.k_per_block() as usize);
                    let w = quantized_matrix(format, 31, n, k);
                    let (x, _) = gemv_activations(format, &nonzero(32, usize::from(m) * k), k);
                    let matrices: Vec<&[u8]> = if fused { vec![&w, &w] } else { vec![&w] };
                    let m = usize::from(m);
                    let want = run_gemv(&KernelType::Gemv(g), &matrices, &x, n, k, m);
                    let got = run_gemv(&KernelType::Gemv(early), &matrices, &x, n, k, m);
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{format} m={m} fused={fused} k={k}: early weights differ"
                    );
                    assert!(
                        want.iter().all(|v| v.is_finite()),
                        "{format}: unwritten outputs"
                    );
                }
            }
        }
    }
}

#[test]
fn only_the_unstaged_dp4a_body_on_sm90_loads_weights_early() {
    let g = Gemv::new(quant_formats::GgmlType::Q4_K, 1, 1, 2, SmTarget::Sm90).unwrap();
    assert!(
        !g.staged()
            .weights_before_wait(132, 8)
            .unwrap()
            .loads_weights_before_wait()
    );
    assert!(
        !g.weights_before_wait(132, 8)
            .unwrap()
            .staged()
            .stages_weights()
    );
    let tc = Gemv::tensor_core(quant_formats::GgmlType::Q4_K, 1, 8, SmTarget::Sm90).unwrap();
    assert!(
        !tc.weights_before_wait(132, 8)
            .unwrap()
            .loads_weights_before_wait()
    );
    let sm80 = Gemv::new(quant_formats::GgmlType::Q4_K, 1, 1, 2, SmTarget::Sm80).unwrap();
    assert!(
        !sm80
            .weights_before_wait(132, 8)
            .unwrap()
            .loads_weights_before_wait()
    );
    assert!(g.weights_before_wait(0, 8).is_err());
    assert!(g.weights_before_wait(132, 33).is_err());
}

/// Independent one-warp bodies per block (`Gemv::with_warp_groups`) compute the same bits as
/// one-warp blocks, with and without early weights, including warps past the last row group.
#[test]
fn warp_groups_change_no_bit() {
    let mut grouped = 0;
    for format in gemv_formats() {
        let (_, rows) = default_geometry(format);
        for (m, fused, early) in [(1u8, false, true), (3, true, false)] {
            let mut g = Gemv::new(format, m, 1, rows, SmTarget::Sm90).unwrap();
            if fused {
                g = g.with_gate_up_swiglu();
            }
            if early {
                g = g.weights_before_wait(1, 1).unwrap();
            }
            for groups in [2u8, 4] {
                let wide = g.with_warp_groups(groups).unwrap();
                assert!(wide.entry_name().contains(&format!("_g{groups}")));
                grouped += 1;
                let per_visit = g.blocks_per_visit() as usize;
                let (n, k) = (11usize, (3 * per_visit + 1) * g.k_per_block() as usize);
                let w = quantized_matrix(format, 71, n, k);
                let (x, _) = gemv_activations(format, &nonzero(72, usize::from(m) * k), k);
                let matrices: Vec<&[u8]> = if fused { vec![&w, &w] } else { vec![&w] };
                let m = usize::from(m);
                let want = run_gemv(&KernelType::Gemv(g), &matrices, &x, n, k, m);
                let got = run_gemv(&KernelType::Gemv(wide), &matrices, &x, n, k, m);
                assert_eq!(bits(&got), bits(&want), "{}", wide.entry_name());
            }
        }
    }
    assert!(grouped >= 8, "{grouped} grouped variants");
    let w2 = Gemv::new(quant_formats::GgmlType::Q6_K, 1, 2, 2, SmTarget::Sm90).unwrap();
    assert!(w2.with_warp_groups(2).is_err());
}
