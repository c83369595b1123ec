//! The dp4a body fed by bulk copies (`Gemv::streamed`) on the CPU PTX emulator (`emu`):
//! bit-identical to the dp4a variant it streams, for every format that streams, with more
//! row groups than blocks (each block loops), ragged last trips and rows shorter than one
//! trip, a last group past `n`, one to four stages, M = 1 and 3, and the fused gate/up
//! kernel; every weight byte arrives by bulk copy when the rows are 16-byte aligned, none
//! when they are not (the global-memory loop, same bits).

mod emu;

use emu::gemv::run_gemv_counting_bulk;
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::kernels::gemv::default_geometry;
use kernel_ptx::{Gemv, KernelType, SmTarget, gemv_formats};
use quant_formats::GgmlType;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

/// `(blocks per SM, stages, visits)` tried per format; one SM, so 1–2 blocks loop over the
/// row groups.
const SHAPES: [(u8, u8, u8); 3] = [(1, 1, 1), (2, 2, 2), (1, 4, 1)];

#[test]
fn streamed_weights_change_no_bit() {
    let mut streamed_formats = Vec::new();
    for format in gemv_formats() {
        let (warps, rows) = default_geometry(format);
        for (m, fused) in [(1u8, false), (3, false), (1, true)] {
            let mut plain = Gemv::new(format, m, warps, rows.max(2), SmTarget::Sm90).unwrap();
            if fused {
                plain = plain.with_gate_up_swiglu();
            }
            for (blocks_per_sm, stages, visits) in SHAPES {
                let Ok(g) = plain.streamed(1, blocks_per_sm, stages, visits) else {
                    continue;
                };
                assert!(g.streams_weights(), "{format}");
                assert_eq!(g.not_streamed(), plain, "{format}");
                streamed_formats.push(format);
                let trip = g.blocks_per_visit() as usize * usize::from(visits);
                // Three trips and a part-filled fourth (a whole number of 16-byte chunks for
                // the 2-byte-aligned formats: blocks a multiple of 8); a row shorter than
                // one trip.
                for blocks in [3 * trip + 8 * (trip / 16).max(1), 8] {
                    let (n, k) = (7usize, blocks * g.k_per_block() as usize);
                    let w = quantized_matrix(format, 41, n, k);
                    let (x, _) = gemv_activations(format, &nonzero(42, usize::from(m) * k), k);
                    let matrices: Vec<&[u8]> = if fused { vec![&w, &w] } else { vec![&w] };
                    let m = usize::from(m);
                    let run = |kt: Gemv, pad| {
                        run_gemv_counting_bulk(&KernelType::Gemv(kt), &matrices, pad, &x, n, k, m)
                    };
                    let (want, _) = run(plain, 0);
                    let (got, copied) = run(g, 0);
                    let what = format!("{format} m={m} fused={fused} k={k} {}", g.entry_name());
                    assert_eq!(bits(&got), bits(&want), "{what}: streamed results differ");
                    assert!(
                        want.iter().all(|v| v.is_finite()),
                        "{what}: unwritten outputs"
                    );
                    let row_bytes = w.len() / n;
                    if row_bytes.is_multiple_of(16) {
                        // Every row of every group (the last group's rows past n repeat row
                        // n - 1) arrives once.
                        let rows_streamed =
                            n.div_ceil(usize::from(g.rows())) * usize::from(g.rows());
                        let want_bytes = rows_streamed * row_bytes * matrices.len();
                        assert_eq!(copied, want_bytes as u64, "{what}: bytes copied");
                    } else {
                        assert_eq!(copied, 0, "{what}: unaligned rows copied");
                    }
                    // Formats of 2-byte-aligned blocks also run from a 2-byte-aligned base.
                    if format.block_bytes() % 16 != 0 {
                        let (shifted, copied) = run(g, 2);
                        assert_eq!(bits(&shifted), bits(&want), "{what}: unaligned rows differ");
                        assert_eq!(copied, 0, "{what}: unaligned rows copied");
                    }
                }
            }
        }
    }
    for format in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0] {
        assert!(
            streamed_formats.contains(&format),
            "{format} never streamed"
        );
    }
}

#[test]
fn only_sm90_dp4a_variants_that_read_shared_weights_stream() {
    let q4_k = Gemv::new(GgmlType::Q4_K, 1, 1, 2, SmTarget::Sm90).unwrap();
    let g = q4_k.streamed(132, 16, 4, 2).unwrap();
    assert_eq!(g.entry_name(), "gemv_q4_k_m1_w1_r2_bulk4x2_b16");
    assert!(!g.loads_weights_before_wait() && !g.stages_weights() && !g.prefetches_l2());
    let grouped = q4_k.with_warp_groups(2).unwrap();
    assert_eq!(
        grouped.streamed(132, 16, 4, 2).unwrap(),
        g,
        "streamed blocks are one warp"
    );
    let sm80 = Gemv::new(GgmlType::Q4_K, 1, 1, 2, SmTarget::Sm80).unwrap();
    assert!(sm80.streamed(132, 16, 4, 2).is_err());
    let f16 = Gemv::new(GgmlType::F16, 1, 4, 1, SmTarget::Sm90).unwrap();
    assert!(f16.streamed(132, 16, 4, 2).is_err());
    let tc = Gemv::tensor_core(GgmlType::Q4_K, 1, 8, SmTarget::Sm90).unwrap();
    assert!(tc.streamed(132, 16, 4, 2).is_err());
    assert!(q4_k.streamed(132, 16, 9, 2).is_err());
    assert!(q4_k.streamed(132, 33, 4, 2).is_err());
    // 48 KiB of stages at most: the fused kernel keeps as many stages as fit.
    let wide = Gemv::new(GgmlType::Q4_K, 1, 1, 4, SmTarget::Sm90).unwrap();
    assert!(wide.streamed(132, 4, 8, 4).is_err());
    let big = wide.streamed(132, 4, 4, 4).unwrap();
    assert!(big.with_gate_up_swiglu().streams_weights());
    assert!(big.with_gate_up_swiglu().entry_name().contains("_bulk2x4_"));
}
