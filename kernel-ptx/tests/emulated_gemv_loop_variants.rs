//! Loop variants of the dp4a gemv body on the CPU PTX emulator (`emu`), each bit-identical to
//! the plain variant for every format: four visits per K-loop trip
//! (`Gemv::four_visits_in_flight`), the first trip's weights loaded before the grid-dependency
//! wait (`Gemv::weights_before_wait`), both over rows of a ragged number of visits, and
//! persistent launches (`Gemv::persistent`) in which few blocks loop over many row groups.

mod emu;

use emu::gemv::run_gemv;
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::kernels::gemv::default_geometry;
use kernel_ptx::{Gemv, KernelType, SmTarget, gemv_formats};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|f| f.to_bits()).collect()
}

/// Every format at its default geometry, M = 1 and 2 and fused M = 1, over rows of 11 visits
/// and a part-filled twelfth, and over rows shorter than one trip: `variant(g)` gives the
/// same bits as `g` wherever it differs from it. Returns how many variants differed.
fn check_loop_variant(name: &str, variant: impl Fn(Gemv) -> Gemv) -> usize {
    let mut tested = 0;
    for format in gemv_formats() {
        let (warps, rows) = default_geometry(format);
        for (m, fused) in [(1u8, false), (2, false), (1, true)] {
            let mut g = Gemv::new(format, m, warps, rows, SmTarget::Sm90).unwrap();
            if fused {
                g = g.with_gate_up_swiglu();
            }
            let v = variant(g);
            if v == g {
                continue;
            }
            let per_visit = g.blocks_per_visit() as usize;
            for blocks in [11 * per_visit + per_visit / 2 + 1, 1] {
                let (n, k) = (5usize, blocks * g.k_per_block() as usize);
                let w = quantized_matrix(format, 31, n, k);
                let (x, _) = gemv_activations(format, &nonzero(32, usize::from(m) * k), k);
                let matrices: Vec<&[u8]> = if fused { vec![&w, &w] } else { vec![&w] };
                let m = usize::from(m);
                let want = run_gemv(&KernelType::Gemv(g), &matrices, &x, n, k, m);
                let got = run_gemv(&KernelType::Gemv(v), &matrices, &x, n, k, m);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{format} m={m} fused={fused} k={k}: {name} differs"
                );
                assert!(
                    want.iter().all(|v| v.is_finite()),
                    "{format}: unwritten outputs"
                );
            }
            tested += 1;
        }
    }
    tested
}

#[test]
fn four_visits_per_trip_equal_two_bit_for_bit() {
    let tested = check_loop_variant("four visits", Gemv::four_visits_in_flight);
    assert!(
        tested >= 30,
        "only {tested} variants have four visits per trip"
    );
}

#[test]
fn weights_before_the_grid_wait_change_no_bit() {
    // One first-wave block (the others wait first) and every block; the first trip into
    // registers and the whole rows into shared memory (where they fit and are aligned).
    for first_wave in [Some((1, 1)), None] {
        for whole_rows in [false, true] {
            let tested = check_loop_variant("weights before wait", |g| {
                g.weights_before_wait(first_wave, whole_rows).unwrap()
            });
            assert_eq!(tested, 3 * gemv_formats().len());
        }
    }
}

#[test]
fn persistent_blocks_equal_one_block_per_row_group_bit_for_bit() {
    for format in gemv_formats() {
        let (warps, rows) = default_geometry(format);
        for (m, fused) in [(1u8, false), (3, false), (2, true)] {
            let mut g = Gemv::new(format, m, warps, rows, SmTarget::Sm90).unwrap();
            if fused {
                g = g.with_gate_up_swiglu();
            }
            // Two SMs × one block: 13 rows are 13 / rows groups over two blocks.
            let persistent = g.persistent(2, 1).unwrap();
            assert_ne!(persistent, g, "{format}: not persistent");
            assert!(persistent.entry_name().ends_with("_b1"));
            let blocks = 3 * g.blocks_per_visit() as usize + 1;
            let (n, k) = (13usize, blocks * g.k_per_block() as usize);
            let w = quantized_matrix(format, 41, n, k);
            let (x, _) = gemv_activations(format, &nonzero(42, usize::from(m) * k), k);
            let matrices: Vec<&[u8]> = if fused { vec![&w, &w] } else { vec![&w] };
            let want = run_gemv(&KernelType::Gemv(g), &matrices, &x, n, k, usize::from(m));
            let got = run_gemv(
                &KernelType::Gemv(persistent),
                &matrices,
                &x,
                n,
                k,
                usize::from(m),
            );
            assert_eq!(
                bits(&got),
                bits(&want),
                "{format} m={m} fused={fused}: persistent ≠ plain"
            );
            assert!(
                want.iter().all(|v| v.is_finite()),
                "{format} m={m}: unwritten outputs"
            );
        }
    }
}
