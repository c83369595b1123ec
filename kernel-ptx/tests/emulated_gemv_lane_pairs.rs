//! Lane pairs (`Gemv::with_lane_pairs`: each thread does two adjacent lanes' work, each
//! half-warp half the rows) on the CPU PTX emulator (`emu`): bit-identical to the one-lane
//! body for the formats that pair lanes, at M = 1, 3 and 8, two and four rows, plain and
//! fused, with and without early weights, over ragged K and N.

mod emu;

use emu::gemv::run_gemv;
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::{Gemv, KernelType, SmTarget, gemv_formats};
use quant_formats::GgmlType;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn lane_pairs_change_no_bit() {
    let mut paired_formats = Vec::new();
    for format in gemv_formats() {
        for rows in [2u8, 4] {
            for (m, fused, early) in [
                (1u8, false, false),
                (1, false, true),
                (3, true, false),
                (8, false, false),
            ] {
                let Ok(mut g) = Gemv::new(format, m, 1, rows, SmTarget::Sm90) else {
                    continue;
                };
                if fused {
                    g = g.with_gate_up_swiglu();
                }
                if early {
                    g = g.weights_before_wait(1, 1).unwrap();
                }
                let Ok(paired) = g.with_lane_pairs() else {
                    continue;
                };
                paired_formats.push(format);
                assert!(paired.pairs_lanes() && paired.entry_name().contains("_lp"));
                assert_eq!(paired.without_lane_pairs(), g);
                // Five visits and a part-filled sixth; n leaves the last block short.
                for (n, blocks) in [(7usize, 5 * g.blocks_per_visit() as usize + 3), (1, 1)] {
                    let k = blocks * g.k_per_block() as usize;
                    let w = quantized_matrix(format, 61, n, k);
                    let (x, _) = gemv_activations(format, &nonzero(62, usize::from(m) * k), k);
                    let matrices: Vec<&[u8]> = if fused { vec![&w, &w] } else { vec![&w] };
                    let m = usize::from(m);
                    let want = run_gemv(&KernelType::Gemv(g), &matrices, &x, n, k, m);
                    let got = run_gemv(&KernelType::Gemv(paired), &matrices, &x, n, k, m);
                    let what = paired.entry_name();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{what} n={n} k={k}: lane pairs differ"
                    );
                    assert!(
                        want.iter().all(|v| v.is_finite()),
                        "{what}: unwritten outputs"
                    );
                }
            }
        }
    }
    for format in [GgmlType::Q4_K, GgmlType::Q5_K] {
        assert!(paired_formats.contains(&format), "{format} never paired");
    }
    let q4_k = Gemv::new(GgmlType::Q4_K, 1, 1, 1, SmTarget::Sm90).unwrap();
    assert!(q4_k.with_lane_pairs().is_err(), "odd rows");
    let q6_k = Gemv::new(GgmlType::Q6_K, 1, 1, 2, SmTarget::Sm90).unwrap();
    assert!(q6_k.with_lane_pairs().is_err(), "Q6_K does not pair lanes");
    let w2 = Gemv::new(GgmlType::Q4_K, 1, 2, 2, SmTarget::Sm90).unwrap();
    assert!(w2.with_lane_pairs().is_err(), "two warps");
}
