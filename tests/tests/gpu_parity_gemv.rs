//! GPU parity of the gemv family (test-backend-ops style): every weight format against the
//! quant-formats CPU oracle, ragged dims, NaN-poisoned outputs between guard regions, and
//! batch invariance (column j of an M-column launch equals the M = 1 launch bit for bit).
//!
//! References: integer formats dot Q8_1 activations quantised on the CPU with
//! `quantize_row_q8_1_ref` (what the `quantize_q8_1` kernel writes, bit for bit) through
//! `vec_dot_row`, the kernel reading the same blocks in the planar layout of `q8_1_to_planes`;
//! float formats dot f32 activations; the fused kernel's reference is
//! `silu(gate · x) * (up · x)` of those. The GPU sums a row's per-thread partials in another
//! order than the CPU, so results are compared by normalised MSE.

use gpu_runtime::{DeviceBytes, Gpu, GuardedBuffer, kernel_args};
use kernel_ptx::{
    Gemv, GpuProfileLite, KernelType, LaunchDims, SmTarget, select_gate_up_swiglu, select_matvec,
};
use quant_formats::{
    GgmlType, QuantizedActivation, matvec_activation_bytes, quantize_row, vec_dot_row,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tests::parity::{GUARD, gpu, nmse, random_values};

/// Normalised MSE bound: the oracle computes the same per-block products, so only f32
/// summation order (and ex2.approx in SwiGLU) differs.
const MAX_NMSE: f64 = 1e-8;

/// Which gemv body a case runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// What `select_matvec` / `select_gate_up_swiglu` return.
    Selected,
    /// `Gemv::tensor_core` with this many warps per tile.
    TensorCores { warps: u8 },
    /// The dp4a body with the format's warps and `rows` rows per block, `groups` one-warp
    /// bodies per block (`Gemv::with_warp_groups`), its weights streamed by bulk copies
    /// (`Gemv::streamed`: blocks per SM, stages, visits) when given.
    Dp4a {
        rows: u8,
        groups: u8,
        streamed: Option<(u8, u8, u8)>,
    },
    /// `Gemv::whole_blocks` with this geometry, persistent with `blocks_per_sm` unless 0.
    WholeBlocks {
        slices: u8,
        warps: u8,
        stages: u8,
        blocks_per_sm: u8,
    },
}

/// One parity case: a kernel family member and its runtime dims.
#[derive(Clone, Copy, Debug)]
struct Case {
    format: GgmlType,
    n: usize,
    k: usize,
    m: usize,
    gate_up_swiglu: bool,
    body: Body,
}

/// `[n, k]` weights quantised row by row into `format`.
fn quantized_matrix(rng: &mut ChaCha8Rng, format: GgmlType, n: usize, k: usize) -> Vec<u8> {
    random_values(rng, n * k)
        .chunks(k)
        .flat_map(|row| quantize_row(format, row).expect("k is a multiple of the block size"))
        .collect()
}

/// `W · x_j` for every row and column, by the CPU oracle: `[m][n]`.
fn reference(format: GgmlType, w: &[u8], n: usize, acts: &[QuantizedActivation]) -> Vec<Vec<f32>> {
    let row_bytes = w.len() / n;
    acts.iter()
        .map(|act| {
            w.chunks(row_bytes)
                .map(|row| vec_dot_row(format, row, act).expect("row and activation agree"))
                .collect()
        })
        .collect()
}

fn silu_times(gate: f32, up: f32) -> f32 {
    gate / (1.0 + (-gate).exp()) * up
}

/// The activation bytes the kernel reads for `format` (`x [m, k]` f32, or its Q8_1 blocks
/// `[m, k / 32]` in the planar layout of `q8_1_to_planes`) and the oracle's view of the same
/// columns.
fn activations(format: GgmlType, x: &[f32], k: usize) -> (Vec<u8>, Vec<QuantizedActivation>) {
    let acts: Vec<QuantizedActivation> = x
        .chunks(k)
        .map(|col| QuantizedActivation::for_weight(format, col).expect("whole blocks"))
        .collect();
    let bytes = matvec_activation_bytes(format, x).expect("a gemv weight format, whole blocks");
    (bytes, acts)
}

fn kernel_for(gpu: &Gpu, case: &Case) -> KernelType {
    let profile: GpuProfileLite = gpu.profile().lite();
    let (m, k) = (case.m as u32, case.k as u32);
    let shape = kernel_ptx::WeightShape {
        n: case.n as u32,
        k,
    };
    let (major, minor) = profile.compute_capability;
    let target = SmTarget::for_compute_capability(major, minor).expect("sm_80 or newer");
    let fused = |kt: KernelType| match kt {
        KernelType::Gemv(g) if case.gate_up_swiglu => KernelType::Gemv(g.with_gate_up_swiglu()),
        other => other,
    };
    let kt = match case.body {
        Body::Selected if case.gate_up_swiglu => {
            select_gate_up_swiglu(case.format, m, shape, &profile)
        }
        Body::Selected => select_matvec(case.format, m, shape, &profile),
        Body::TensorCores { warps } => Gemv::tensor_core(case.format, case.m as u8, warps, target)
            .map(|g| fused(KernelType::Gemv(g))),
        Body::Dp4a {
            rows,
            groups,
            streamed,
        } => {
            let (warps, _) = kernel_ptx::kernels::gemv::default_geometry(case.format);
            Gemv::new(case.format, case.m as u8, warps, rows, target)
                .and_then(|g| g.with_warp_groups(groups))
                .and_then(|g| match streamed {
                    None => Ok(g),
                    Some((blocks_per_sm, stages, visits)) => {
                        g.streamed(profile.sm_count, blocks_per_sm, stages, visits)
                    }
                })
                .map(|g| fused(KernelType::Gemv(g)))
        }
        Body::WholeBlocks {
            slices,
            warps,
            stages,
            blocks_per_sm,
        } => Gemv::whole_blocks(case.format, case.m as u8, slices, warps, stages, target)
            .and_then(|g| match blocks_per_sm {
                0 => Ok(g),
                b => g.persistent(profile.sm_count, b),
            })
            .map(|g| fused(KernelType::Gemv(g))),
    };
    kt.unwrap_or_else(|e| panic!("{case:?}: no kernel: {e}"))
}

/// Launches `case` on uploaded weights and activations; returns the checked `[m, n]` output.
fn launch(gpu: &Gpu, case: &Case, weights: &[&DeviceBytes], x: &DeviceBytes) -> Vec<f32> {
    let kt = kernel_for(gpu, case);
    let dims = LaunchDims {
        n: case.n as u32,
        k: case.k as u32,
        m: case.m as u32,
        rows: 0,
    };
    let y = GuardedBuffer::<f32>::new(gpu, case.m * case.n, GUARD)
        .unwrap_or_else(|e| panic!("{case:?}: output: {e}"));
    let out = y.payload();
    let (n, k) = (case.n as u32, case.k as u32);
    let result = match weights {
        [w] => gpu.launch(&kt, &dims, &kernel_args![*w, x, &out, n, k]),
        [gate, up] => gpu.launch(&kt, &dims, &kernel_args![*gate, *up, x, &out, n, k]),
        _ => panic!("one or two weight matrices"),
    };
    result.unwrap_or_else(|e| panic!("{case:?} ({}): launch: {e}", kt.entry_name()));
    y.to_host_checked()
        .unwrap_or_else(|e| panic!("{case:?} ({}): {e}", kt.entry_name()))
}

/// Runs one case against the CPU oracle: NaN agreement and normalised MSE.
fn check_case(gpu: &Gpu, case: Case, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let matrices = if case.gate_up_swiglu { 2 } else { 1 };
    let w: Vec<Vec<u8>> = (0..matrices)
        .map(|_| quantized_matrix(&mut rng, case.format, case.n, case.k))
        .collect();
    let x = random_values(&mut rng, case.m * case.k);
    let (x_bytes, acts) = activations(case.format, &x, case.k);

    let per_matrix: Vec<Vec<Vec<f32>>> = w
        .iter()
        .map(|w| reference(case.format, w, case.n, &acts))
        .collect();
    let want: Vec<f32> = match per_matrix.as_slice() {
        [plain] => plain.concat(),
        [gate, up] => gate
            .concat()
            .iter()
            .zip(up.concat())
            .map(|(&g, u)| silu_times(g, u))
            .collect(),
        _ => unreachable!(),
    };

    let w_dev: Vec<DeviceBytes> = w
        .iter()
        .map(|w| gpu.upload(w).expect("upload weights"))
        .collect();
    let x_dev = gpu.upload(&x_bytes).expect("upload activations");
    let got = launch(gpu, &case, &w_dev.iter().collect::<Vec<_>>(), &x_dev);

    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g.is_nan(),
            w.is_nan(),
            "{case:?}: NaN disagreement at column {}, row {}: got {g}, want {w}",
            i / case.n,
            i % case.n
        );
    }
    let err = nmse(&got, &want);
    assert!(
        err <= MAX_NMSE,
        "{case:?}: nmse {err:e} > {MAX_NMSE:e}; first values got {:?} want {:?}",
        &got[..got.len().min(4)],
        &want[..want.len().min(4)]
    );
}

/// Column j of an M-column launch equals the M = 1 launch on column j, bit for bit (plain and
/// fused kernels).
fn check_batch_invariance(gpu: &Gpu, format: GgmlType, k: usize, gate_up_swiglu: bool, body: Body) {
    let (n, m_max) = (37, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(0xBA7C);
    let matrices = if gate_up_swiglu { 2 } else { 1 };
    let w_dev: Vec<DeviceBytes> = (0..matrices)
        .map(|_| {
            let w = quantized_matrix(&mut rng, format, n, k);
            gpu.upload(&w).expect("upload weights")
        })
        .collect();
    let weights: Vec<&DeviceBytes> = w_dev.iter().collect();
    let x = random_values(&mut rng, m_max * k);
    let (x_bytes, _) = activations(format, &x, k);
    let case = |m| Case {
        format,
        n,
        k,
        m,
        gate_up_swiglu,
        body,
    };
    let all = launch(
        gpu,
        &case(m_max),
        &weights,
        &gpu.upload(&x_bytes).expect("upload"),
    );
    for j in 0..m_max {
        // Q8_1 planes of M columns do not hold a column's bytes contiguously: column j alone.
        let (col_bytes, _) = activations(format, &x[j * k..(j + 1) * k], k);
        let col = gpu.upload(&col_bytes).expect("upload");
        let single = launch(gpu, &case(1), &weights, &col);
        let batched = &all[j * n..(j + 1) * n];
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(batched),
            bits(&single),
            "{format} k={k} fused={gate_up_swiglu}: column {j} of M={m_max} differs from M=1"
        );
    }
}

/// Ragged K values legal for `format`: non-power-of-two multiples of its block size.
fn ragged_ks(format: GgmlType) -> [usize; 2] {
    match format.block_elems() {
        256 => [3 * 256, 7 * 256],
        // Float rows are read in 16-byte chunks (8 f16/bf16 values): 40 and 7 × 32 qualify.
        1 => [40, 7 * 32],
        _ => [7 * 32, 13 * 32],
    }
}

/// Every M in 1..=8 over the ragged N values, both ragged K, and the fused kernel at a few M.
fn parity_for_format(format: GgmlType, body: Body) {
    let gpu = gpu();
    let ns = [1usize, 5, 7, 13, 33, 4097];
    let ks = ragged_ks(format);
    let mut seed = 1u64;
    for m in 1..=8usize {
        for (i, &n) in ns.iter().enumerate() {
            let k = ks[(i + m) % ks.len()];
            let gate_up_swiglu = false;
            check_case(
                &gpu,
                Case {
                    format,
                    n,
                    k,
                    m,
                    gate_up_swiglu,
                    body,
                },
                seed,
            );
            seed += 1;
        }
    }
    for m in [1usize, 3, 8] {
        for n in [7usize, 33, 4097] {
            let k = ks[m % ks.len()];
            let gate_up_swiglu = true;
            check_case(
                &gpu,
                Case {
                    format,
                    n,
                    k,
                    m,
                    gate_up_swiglu,
                    body,
                },
                seed,
            );
            seed += 1;
        }
    }
    for gate_up_swiglu in [false, true] {
        check_batch_invariance(&gpu, format, ks[1], gate_up_swiglu, body);
    }
}

/// One `#[ignore]`d GPU test per weight format and body.
macro_rules! gemv_parity_tests {
    ($($name:ident => $format:expr, $body:expr;)*) => {$(
        #[test]
        #[ignore = "needs a CUDA device"]
        fn $name() {
            parity_for_format($format, $body);
        }
    )*};
}

gemv_parity_tests! {
    gemv_parity_f32 => GgmlType::F32, Body::Selected;
    gemv_parity_f16 => GgmlType::F16, Body::Selected;
    gemv_parity_bf16 => GgmlType::BF16, Body::Selected;
    gemv_parity_q4_0 => GgmlType::Q4_0, Body::Selected;
    gemv_parity_q4_1 => GgmlType::Q4_1, Body::Selected;
    gemv_parity_q5_0 => GgmlType::Q5_0, Body::Selected;
    gemv_parity_q5_1 => GgmlType::Q5_1, Body::Selected;
    gemv_parity_q8_0 => GgmlType::Q8_0, Body::Selected;
    gemv_parity_q2_k => GgmlType::Q2_K, Body::Selected;
    gemv_parity_q3_k => GgmlType::Q3_K, Body::Selected;
    gemv_parity_q4_k => GgmlType::Q4_K, Body::Selected;
    gemv_parity_q5_k => GgmlType::Q5_K, Body::Selected;
    gemv_parity_q6_k => GgmlType::Q6_K, Body::Selected;
    gemv_parity_iq4_nl => GgmlType::IQ4_NL, Body::Selected;
    gemv_parity_iq4_xs => GgmlType::IQ4_XS, Body::Selected;
    // The tensor-core body of the formats that have one (not selected; see select.rs).
    gemv_parity_q4_k_tensor_cores_w2 => GgmlType::Q4_K, Body::TensorCores { warps: 2 };
    gemv_parity_q4_k_tensor_cores_w8 => GgmlType::Q4_K, Body::TensorCores { warps: 8 };
    gemv_parity_q5_k_tensor_cores_w4 => GgmlType::Q5_K, Body::TensorCores { warps: 4 };
    gemv_parity_q4_k_whole_blocks_wb8 =>
        GgmlType::Q4_K, Body::WholeBlocks { slices: 8, warps: 1, stages: 2, blocks_per_sm: 0 };
    gemv_parity_q4_k_whole_blocks_wb8_persistent =>
        GgmlType::Q4_K, Body::WholeBlocks { slices: 8, warps: 4, stages: 2, blocks_per_sm: 1 };
    gemv_parity_q4_k_whole_blocks_wb2 =>
        GgmlType::Q4_K, Body::WholeBlocks { slices: 2, warps: 2, stages: 3, blocks_per_sm: 0 };
    gemv_parity_q5_k_whole_blocks_wb4 =>
        GgmlType::Q5_K, Body::WholeBlocks { slices: 4, warps: 1, stages: 1, blocks_per_sm: 2 };
}

/// Runs `a` and `b` (the same format, shape and fusion; other bodies) on one set of seeded
/// random weights and activations and asserts their outputs are equal bit for bit.
fn assert_same_bits(gpu: &Gpu, seed: u64, a: &Case, b: &Case, what: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w_dev: Vec<DeviceBytes> = (0..1 + usize::from(a.gate_up_swiglu))
        .map(|_| {
            let w = quantized_matrix(&mut rng, a.format, a.n, a.k);
            gpu.upload(&w).expect("upload weights")
        })
        .collect();
    let weights: Vec<&DeviceBytes> = w_dev.iter().collect();
    let (x_bytes, _) = activations(a.format, &random_values(&mut rng, a.m * a.k), a.k);
    let x = gpu.upload(&x_bytes).expect("upload activations");
    let bits = |v: Vec<f32>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(launch(gpu, a, &weights, &x)),
        bits(launch(gpu, b, &weights, &x)),
        "{a:?} differs from {what}"
    );
}

/// The whole-block body equals the tensor-core body with as many warps as it has slices, bit
/// for bit, at every M, plain and fused (so the two may serve different M of one format).
#[test]
#[ignore = "needs a CUDA device"]
fn whole_blocks_equal_tensor_cores_bit_for_bit() {
    let gpu = gpu();
    // (format, slices, warps, stages, blocks per SM): one block per SM leaves each block
    // many row groups at n = 4097.
    let cases = [
        (GgmlType::Q4_K, 8u8, 1u8, 2u8, 0u8),
        (GgmlType::Q4_K, 8, 4, 2, 1),
        (GgmlType::Q4_K, 8, 2, 2, 0),
        (GgmlType::Q5_K, 4, 2, 2, 1),
    ];
    let mut seed = 0x3B_u64;
    for (format, slices, warps, stages, blocks_per_sm) in cases {
        for (n, k) in [(4097usize, 7 * 256usize), (33, 16 * 256)] {
            for m in 1..=8usize {
                for gate_up_swiglu in [false, true] {
                    let case = |body| Case {
                        format,
                        n,
                        k,
                        m,
                        gate_up_swiglu,
                        body,
                    };
                    let whole = case(Body::WholeBlocks {
                        slices,
                        warps,
                        stages,
                        blocks_per_sm,
                    });
                    let tc = case(Body::TensorCores { warps: slices });
                    assert_same_bits(&gpu, seed, &whole, &tc, "the tensor-core body");
                    seed += 1;
                }
            }
        }
    }
}

/// The dp4a body with its weights streamed by bulk copies equals the same body reading global
/// memory bit for bit, at M = 1, 3 and 8, plain and fused, for every format that streams:
/// rows that are 16-byte multiples (streamed) and rows that are not (the global fallback),
/// a last trip that is part-filled, and few blocks per SM so each block loops over many row
/// groups at n = 523.
#[test]
#[ignore = "needs a CUDA device"]
fn streamed_weights_equal_global_loads_bit_for_bit() {
    let gpu = gpu();
    // (rows, (blocks per SM, stages, visits))
    let geometries = [(2u8, (1u8, 4u8, 2u8)), (1, (16, 2, 4)), (4, (2, 3, 1))];
    let mut seed = 0x57_u64;
    let mut streamed = 0;
    for format in [
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::Q8_0,
    ] {
        // 24 super-blocks or 192 32-element blocks: 16-byte rows for every format, two or
        // three trips; 7 × 256: not 16-byte rows for Q6_K and Q8_0.
        for (n, k) in [(523usize, 24 * 256usize), (33, 7 * 256)] {
            for (rows, bulk) in geometries {
                for m in [1usize, 3, 8] {
                    for gate_up_swiglu in [false, true] {
                        let case = |streamed| Case {
                            format,
                            n,
                            k,
                            m,
                            gate_up_swiglu,
                            body: Body::Dp4a {
                                rows,
                                groups: 1,
                                streamed,
                            },
                        };
                        let (plain, bulk) = (case(None), case(Some(bulk)));
                        let KernelType::Gemv(g) = kernel_for(&gpu, &bulk) else {
                            unreachable!()
                        };
                        assert!(g.streams_weights(), "{bulk:?}");
                        streamed += 1;
                        let what = format!("global loads ({})", g.entry_name());
                        assert_same_bits(&gpu, seed, &bulk, &plain, &what);
                        seed += 1;
                    }
                }
            }
        }
    }
    assert_eq!(streamed, 4 * 2 * 3 * 3 * 2);
}

/// One-warp bodies grouped into larger blocks (`Gemv::with_warp_groups`) equal one-warp
/// blocks bit for bit, plain and fused, over row counts that leave the last block's warps
/// past the end, for the formats selection groups.
#[test]
#[ignore = "needs a CUDA device"]
fn warp_groups_equal_one_warp_blocks_bit_for_bit() {
    let gpu = gpu();
    let mut seed = 0x6_u64;
    for format in [
        GgmlType::Q4_K,
        GgmlType::Q2_K,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
    ] {
        let (_, rows) = kernel_ptx::kernels::gemv::default_geometry(format);
        let k = ragged_ks(format)[1];
        for n in [8193usize, 4097, 37] {
            for groups in [2u8, 8] {
                for gate_up_swiglu in [false, true] {
                    let case = |groups| Case {
                        format,
                        n,
                        k,
                        m: 1,
                        gate_up_swiglu,
                        body: Body::Dp4a {
                            rows,
                            groups,
                            streamed: None,
                        },
                    };
                    assert_same_bits(&gpu, seed, &case(groups), &case(1), "one-warp blocks");
                    seed += 1;
                }
            }
        }
    }
}

/// The fused kernel equals `swiglu_f32` applied to the two plain gemv outputs bit for bit:
/// the sums come from the same geometry and the SwiGLU instructions are the same.
#[test]
#[ignore = "needs a CUDA device"]
fn gate_up_swiglu_equals_gemv_then_swiglu_bit_for_bit() {
    let gpu = gpu();
    for body in [Body::Selected, Body::TensorCores { warps: 4 }] {
        fused_equals_separate(&gpu, body);
    }
}

fn fused_equals_separate(gpu: &Gpu, body: Body) {
    let (format, n, k, m) = (GgmlType::Q4_K, 4097usize, 3 * 256usize, 3usize);
    let mut rng = ChaCha8Rng::seed_from_u64(0x5_11u64);
    let gate = gpu
        .upload(&quantized_matrix(&mut rng, format, n, k))
        .expect("upload");
    let up = gpu
        .upload(&quantized_matrix(&mut rng, format, n, k))
        .expect("upload");
    let (x_bytes, _) = activations(format, &random_values(&mut rng, m * k), k);
    let x = gpu.upload(&x_bytes).expect("upload");
    let case = |gate_up_swiglu| Case {
        format,
        n,
        k,
        m,
        gate_up_swiglu,
        body,
    };
    let fused = launch(gpu, &case(true), &[&gate, &up], &x);
    let g = gpu
        .upload(&launch(gpu, &case(false), &[&gate], &x))
        .expect("upload");
    let u = gpu
        .upload(&launch(gpu, &case(false), &[&up], &x))
        .expect("upload");
    let swiglu = KernelType::Swiglu {
        target: kernel_for(gpu, &case(false)).target(),
    };
    let count = (m * n) as u32;
    let dims = LaunchDims {
        n: count,
        rows: 1,
        ..LaunchDims::default()
    };
    let out = GuardedBuffer::<f32>::new(gpu, m * n, GUARD).expect("output");
    let view = out.payload();
    gpu.launch(&swiglu, &dims, &kernel_args![&g, &u, &view, count])
        .expect("swiglu launch");
    let separate = out.to_host_checked().expect("guards intact");
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&fused), bits(&separate), "{body:?}");
}
