//! The staged gemv body (weights copied through shared memory) on the CPU PTX emulator (`emu`):
//! against `vec_dot_row` from quant-formats, bit-identical to the unstaged body, and falling
//! back to the unstaged loop when the weight base is not 16-byte aligned.

mod emu;

use emu::gemv::run_gemv_counting_bulk;
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::kernels::gemv::default_geometry;
use kernel_ptx::{Gemv, KernelType, SmTarget, gemv_formats};
use quant_formats::{GgmlType, vec_dot_row};

/// Blocks per row with 16-byte aligned rows and a ragged last tile: 8 × 13 = 104 for 34-byte
/// Q8_0 blocks and 8 × 3 = 24 for 210-byte Q6_K blocks (8 blocks = a multiple of 16 bytes), 37
/// for formats whose blocks are 16-byte multiples already.
fn aligned_blocks_per_row(format: GgmlType) -> usize {
    match format.block_bytes() % 16 {
        0 => 37,
        _ if format == GgmlType::Q8_0 => 8 * 13,
        _ => 8 * 3,
    }
}

/// `y` of `g` over `n` rows, with the weights `pad` bytes into their allocation (the fused
/// variant reads `w` as both gate and up).
fn run(g: Gemv, w: &[u8], pad: usize, x: &[u8], n: usize, k: usize) -> Vec<f32> {
    let matrices: Vec<&[u8]> = if g.is_gate_up_swiglu() {
        vec![w, w]
    } else {
        vec![w]
    };
    let m = usize::from(g.m());
    run_gemv_counting_bulk(&KernelType::Gemv(g), &matrices, pad, x, n, k, m).0
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

#[test]
fn staged_gemv_matches_vec_dot_and_the_unstaged_body_bit_for_bit() {
    let staged: Vec<GgmlType> = gemv_formats()
        .into_iter()
        .filter(|&f| {
            let (warps, rows) = default_geometry(f);
            Gemv::new(f, 1, warps, rows, SmTarget::Sm90)
                .unwrap()
                .staged()
                .stages_weights()
        })
        .collect();
    assert!(staged.contains(&GgmlType::Q4_K) && staged.contains(&GgmlType::Q8_0));
    for format in staged {
        let (warps, rows) = default_geometry(format);
        let blocks = aligned_blocks_per_row(format);
        let (n, k) = (7usize, blocks * format.block_elems());
        let w = quantized_matrix(format, 21, n, k);
        let row_bytes = w.len() / n;
        assert_eq!(
            row_bytes % 16,
            0,
            "{format}: rows must be aligned for this test"
        );
        for m in [1usize, 8] {
            let (x, acts) = gemv_activations(format, &nonzero(22, m * k), k);
            let g = Gemv::new(format, m as u8, warps, rows, SmTarget::Sm90)
                .unwrap()
                .staged();
            assert!(g.stages_weights());
            let y = run(g, &w, 0, &x, n, k);
            for (j, act) in acts.iter().enumerate() {
                for r in 0..n {
                    let want =
                        vec_dot_row(format, &w[r * row_bytes..(r + 1) * row_bytes], act).unwrap();
                    let got = y[j * n + r];
                    assert!(
                        (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{format} m={m} column {j} row {r}: got {got}, want {want}"
                    );
                }
            }
            let unstaged = run(g.unstaged(), &w, 0, &x, n, k);
            assert_eq!(
                bits(&y),
                bits(&unstaged),
                "{format} m={m}: staged ≠ unstaged"
            );
            // A base 2 bytes off 16-byte alignment takes the unstaged loop at run time. Formats
            // with 16-byte-multiple blocks read them with 16-byte loads unstaged too, so their
            // weights must be 16-byte aligned (the emulator rejects misaligned loads).
            if format.block_bytes() % 16 != 0 {
                let fallback = run(g, &w, 2, &x, n, k);
                assert_eq!(
                    bits(&y),
                    bits(&fallback),
                    "{format} m={m}: fallback differs"
                );
            }

            let fused = Gemv::gate_up_swiglu(format, m as u8, warps, rows, SmTarget::Sm90)
                .unwrap()
                .staged();
            let y_fused = run(fused, &w, 0, &x, n, k);
            let y_fused_unstaged = run(fused.unstaged(), &w, 0, &x, n, k);
            assert_eq!(
                bits(&y_fused),
                bits(&y_fused_unstaged),
                "{format} m={m}: fused staged ≠ unstaged"
            );
        }
    }
}
