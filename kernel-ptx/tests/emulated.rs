//! Kernels run on the CPU PTX emulator (`emu`) against independent references: quant-formats'
//! `quantize_row` / `vec_dot_row` / `dequantize_row` (themselves checked against gguf-py) and
//! direct f64 formulas. Ragged dims and seeded non-zero inputs; outputs are pre-filled with NaN.

mod emu;

use emu::inputs::{gemv_activations, q8_1_blocks, uniform};
use emu::{Arg, Gpu};
use kernel_ptx::{Embedding, Gemv, KernelType, LaunchDims, SmTarget, gemv_formats};
use quant_formats::{
    dequantize_row, q8_1_planes_first_difference, q8_1_to_planes, quantize_row, vec_dot_row,
};

const T: SmTarget = SmTarget::Sm90;

fn launch(gpu: &mut Gpu, kt: KernelType, dims: LaunchDims, args: &[Arg]) {
    let geo = kt.launch(&dims).unwrap();
    assert_eq!(args.len(), kt.params().len());
    gpu.launch(
        &kt.ptx(),
        geo.grid,
        geo.block,
        geo.dynamic_shared_bytes,
        args,
    );
}

fn nan_f32(gpu: &mut Gpu, len: usize) -> u64 {
    gpu.alloc_f32(&vec![f32::NAN; len])
}

fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

/// Byte equality of two planar Q8_1 buffers (`q8_1_to_planes`); a difference is reported as
/// the block and the plane (quants or `{ d, s }`) it lies in, with both copies of that part.
fn assert_q8_1_planes_eq(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(d) = q8_1_planes_first_difference(got, want) {
        panic!(
            "{what}: block {} differs in the {} plane: got {:?}, want {:?}",
            d.block, d.plane, d.got, d.want
        );
    }
}

#[test]
fn quantize_q8_1_matches_the_cpu_reference_bit_for_bit() {
    let (m, k) = (3usize, 96usize);
    let mut x = uniform(1, m * k, 3.0);
    // Exact .5 ties after scaling: amax = 127 makes id = 1.
    x[0] = 127.0;
    x[1] = 2.5;
    x[2] = -3.5;
    x[3] = -0.5;
    for v in &mut x[32..64] {
        *v = 0.0; // an all-zero block: d = 0, id = 0
    }
    let mut gpu = Gpu::default();
    let px = gpu.alloc_f32(&x);
    let blocks = m * k / 32;
    let py = gpu.alloc(&vec![0xAAu8; blocks * 36]);
    let dims = LaunchDims {
        m: m as u32,
        k: k as u32,
        ..Default::default()
    };
    launch(
        &mut gpu,
        KernelType::QuantizeQ8_1 { target: T },
        dims,
        &[
            Arg::Ptr(px),
            Arg::Ptr(py),
            Arg::U32(m as u32),
            Arg::U32(k as u32),
        ],
    );
    // Rows of whole blocks: the blocks of `x` in order are the rows' blocks concatenated.
    let want = q8_1_to_planes(&q8_1_blocks(&x));
    assert_q8_1_planes_eq(gpu.bytes(py), &want, "quantize_q8_1");
}

/// y = W x for every gemv format and M, against `vec_dot_row`; and each column bit-identical
/// to the M = 1 launch (batch invariance).
#[test]
fn gemv_matches_vec_dot_and_is_batch_invariant() {
    let formats = gemv_formats();
    assert!(!formats.is_empty());
    for format in formats {
        let qk = format.block_elems();
        // 37 blocks per row: several loop trips at every format's blocks-per-iteration, with a ragged tail.
        let (n, k) = (13usize, 37 * qk.max(32));
        let w: Vec<u8> = uniform(2, n * k, 1.0)
            .chunks(k)
            .flat_map(|r| quantize_row(format, r).unwrap())
            .collect();
        let row_bytes = w.len() / n;
        let mut single: Vec<Vec<f32>> = Vec::new();
        for m in [1usize, 2, 3, 8] {
            let x = uniform(3, m * k, 2.0);
            let (x_bytes, acts) = gemv_activations(format, &x, k);
            let mut gpu = Gpu::default();
            let pw = gpu.alloc(&w);
            let px = gpu.alloc(&x_bytes);
            let py = nan_f32(&mut gpu, m * n);
            let (warps, rows) = kernel_ptx::kernels::gemv::default_geometry(format);
            let kt = KernelType::Gemv(Gemv::new(format, m as u8, warps, rows, T).unwrap());
            let dims = LaunchDims {
                n: n as u32,
                k: k as u32,
                m: m as u32,
                rows: 0,
            };
            launch(
                &mut gpu,
                kt,
                dims,
                &[
                    Arg::Ptr(pw),
                    Arg::Ptr(px),
                    Arg::Ptr(py),
                    Arg::U32(n as u32),
                    Arg::U32(k as u32),
                ],
            );
            let y = gpu.f32s(py);
            for (j, act) in acts.iter().enumerate() {
                let want: Vec<f32> = (0..n)
                    .map(|r| {
                        vec_dot_row(format, &w[r * row_bytes..(r + 1) * row_bytes], act).unwrap()
                    })
                    .collect();
                let got = &y[j * n..(j + 1) * n];
                assert_close(
                    got,
                    &want,
                    1e-4,
                    &format!("{} m={m} column {j}", kt.entry_name()),
                );
                if j == 0 {
                    single.push(got.to_vec());
                }
            }
        }
        // Column 0 uses the same x (seed 3) at every M: results must be bit-identical.
        for s in &single[1..] {
            assert_eq!(
                s.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                single[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{format}: column 0 differs between M values"
            );
        }
    }
}

fn rms_norm_ref(h: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let ss: f64 = h.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / h.len() as f64;
    let scale = 1.0 / (ss + f64::from(eps)).sqrt();
    h.iter()
        .zip(w)
        .map(|(&v, &wv)| (f64::from(v) * scale * f64::from(wv)) as f32)
        .collect()
}

#[test]
fn rms_norm_plain_and_fused_residual() {
    let (rows, n) = (3usize, 333usize);
    let eps = 1e-5f32;
    let x = uniform(4, rows * n, 2.0);
    let res = uniform(5, rows * n, 1.0);
    let w = uniform(6, n, 1.5);
    for residual in [false, true] {
        let mut gpu = Gpu::default();
        let px = gpu.alloc_f32(&x);
        let pr = gpu.alloc_f32(&res);
        let pw = gpu.alloc_f32(&w);
        let py = nan_f32(&mut gpu, rows * n);
        let dims = LaunchDims {
            n: n as u32,
            rows: rows as u32,
            ..Default::default()
        };
        let mut args = vec![Arg::Ptr(px)];
        if residual {
            args.push(Arg::Ptr(pr));
        }
        args.extend([
            Arg::Ptr(pw),
            Arg::Ptr(py),
            Arg::U32(n as u32),
            Arg::F32(eps),
        ]);
        launch(
            &mut gpu,
            KernelType::RmsNorm {
                residual,
                target: T,
            },
            dims,
            &args,
        );
        let h: Vec<f32> = if residual {
            x.iter().zip(&res).map(|(a, b)| a + b).collect()
        } else {
            x.clone()
        };
        let want: Vec<f32> = h
            .chunks(n)
            .flat_map(|row| rms_norm_ref(row, &w, eps))
            .collect();
        assert_close(
            &gpu.f32s(py),
            &want,
            1e-5,
            &format!("rms_norm residual={residual}"),
        );
        if residual {
            assert_eq!(gpu.f32s(pr), h, "residual stream must hold x + residual");
        }
    }
}

#[test]
fn add_and_swiglu() {
    let (rows, n) = (2usize, 301usize);
    let a = uniform(7, rows * n, 8.0);
    let b = uniform(8, rows * n, 3.0);
    for swiglu in [false, true] {
        let mut gpu = Gpu::default();
        let pa = gpu.alloc_f32(&a);
        let pb = gpu.alloc_f32(&b);
        let po = nan_f32(&mut gpu, rows * n);
        let kt = if swiglu {
            KernelType::Swiglu { target: T }
        } else {
            KernelType::Add { target: T }
        };
        let dims = LaunchDims {
            n: n as u32,
            rows: rows as u32,
            ..Default::default()
        };
        launch(
            &mut gpu,
            kt,
            dims,
            &[
                Arg::Ptr(pa),
                Arg::Ptr(pb),
                Arg::Ptr(po),
                Arg::U32((rows * n) as u32),
            ],
        );
        let want: Vec<f32> = a
            .iter()
            .zip(&b)
            .map(|(&g, &u)| {
                if swiglu {
                    (f64::from(g) / (1.0 + (-f64::from(g)).exp()) * f64::from(u)) as f32
                } else {
                    g + u
                }
            })
            .collect();
        assert_close(&gpu.f32s(po), &want, 1e-6, kt.entry_name().as_str());
    }
}

#[test]
fn rope_normal_and_neox_at_positions_from_memory() {
    let (tokens, heads, head_dim) = (3usize, 5usize, 64usize);
    let x = uniform(9, tokens * heads * head_dim, 1.0);
    let pos = [0u32, 17, 8191];
    let inv_freq: Vec<f32> = (0..head_dim / 2)
        .map(|i| 500_000f32.powf(-2.0 * i as f32 / head_dim as f32))
        .collect();
    for neox in [false, true] {
        let mut gpu = Gpu::default();
        let px = gpu.alloc_f32(&x);
        let pp = gpu.alloc_u32(&pos);
        let pf = gpu.alloc_f32(&inv_freq);
        let dims = LaunchDims {
            rows: tokens as u32,
            n: heads as u32,
            k: head_dim as u32,
            m: 0,
        };
        let args = [
            Arg::Ptr(px),
            Arg::Ptr(pp),
            Arg::Ptr(pf),
            Arg::U32(tokens as u32),
            Arg::U32(heads as u32),
            Arg::U32(head_dim as u32),
        ];
        launch(&mut gpu, KernelType::Rope { neox, target: T }, dims, &args);
        let mut want = x.clone();
        for (t, &p) in pos.iter().enumerate() {
            for h in 0..heads {
                let base = (t * heads + h) * head_dim;
                for (i, &f) in inv_freq.iter().enumerate() {
                    let (a, b) = if neox {
                        (base + i, base + i + head_dim / 2)
                    } else {
                        (base + 2 * i, base + 2 * i + 1)
                    };
                    let theta = f64::from(p as f32 * f);
                    let (x0, x1) = (f64::from(x[a]), f64::from(x[b]));
                    want[a] = (x0 * theta.cos() - x1 * theta.sin()) as f32;
                    want[b] = (x0 * theta.sin() + x1 * theta.cos()) as f32;
                }
            }
        }
        assert_close(&gpu.f32s(px), &want, 2e-5, &format!("rope neox={neox}"));
    }
}

#[test]
fn embedding_gather_matches_dequantize_row() {
    let (vocab, n) = (7usize, 512usize);
    let ids = [3u32, 0, 6, 3, 99];
    for format in kernel_ptx::kernels::embedding::FORMATS {
        let table = uniform(10, vocab * n, 2.0);
        let bytes: Vec<u8> = table
            .chunks(n)
            .flat_map(|r| quantize_row(format, r).unwrap())
            .collect();
        let row_bytes = bytes.len() / vocab;
        let mut gpu = Gpu::default();
        let pt = gpu.alloc(&bytes);
        let pi = gpu.alloc_u32(&ids);
        let po = gpu.alloc_f32(&vec![-7.0; ids.len() * n]);
        let kt = KernelType::Embedding(Embedding::new(format, T).unwrap());
        let dims = LaunchDims {
            n: n as u32,
            rows: ids.len() as u32,
            ..Default::default()
        };
        launch(
            &mut gpu,
            kt,
            dims,
            &[
                Arg::Ptr(pt),
                Arg::Ptr(pi),
                Arg::Ptr(po),
                Arg::U32(n as u32),
                Arg::U32(vocab as u32),
            ],
        );
        let out = gpu.f32s(po);
        for (t, &id) in ids.iter().enumerate() {
            let got = &out[t * n..(t + 1) * n];
            if id as usize >= vocab {
                assert!(
                    got.iter().all(|v| v.is_nan()),
                    "{format}: out-of-range id must give NaN"
                );
                continue;
            }
            let mut want = vec![0.0; n];
            dequantize_row(
                format,
                &bytes[id as usize * row_bytes..(id as usize + 1) * row_bytes],
                &mut want,
            )
            .unwrap();
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{format}: token {t}"
            );
        }
    }
}

#[test]
fn argmax_two_stage_finds_first_maximum() {
    let n = 10_000usize;
    let mut rows = [
        uniform(11, n, 5.0),
        vec![f32::NEG_INFINITY; n],
        uniform(12, n, 5.0),
    ];
    rows[0][9_999] = 50.0;
    rows[0][4_100] = 50.0; // tie: the lower index wins, across stage-1 chunks
    rows[0][17] = f32::NAN; // NaN never wins
    rows[2][0] = f32::NAN;
    rows[2][5] = 9.0;
    let want = [4_100u32, 0, 5];
    let logits: Vec<f32> = rows.concat();
    let parts = kernel_ptx::kernels::argmax::parts(n as u32) as usize;
    let mut gpu = Gpu::default();
    let pl = gpu.alloc_f32(&logits);
    let pv = nan_f32(&mut gpu, 3 * parts);
    let pi = gpu.alloc_u32(&vec![u32::MAX; 3 * parts]);
    let po = gpu.alloc_u32(&[u32::MAX; 3]);
    let dims = LaunchDims {
        n: n as u32,
        rows: 3,
        ..Default::default()
    };
    launch(
        &mut gpu,
        KernelType::ArgmaxPartial { target: T },
        dims,
        &[Arg::Ptr(pl), Arg::Ptr(pv), Arg::Ptr(pi), Arg::U32(n as u32)],
    );
    launch(
        &mut gpu,
        KernelType::ArgmaxFinal { target: T },
        dims,
        &[Arg::Ptr(pv), Arg::Ptr(pi), Arg::Ptr(po), Arg::U32(n as u32)],
    );
    assert_eq!(gpu.u32s(po), want);
}

/// The fused norm → Q8_1 kernel equals `rms_norm` followed by `quantize_q8_1`, byte for byte.
#[test]
fn rms_norm_q8_1_equals_norm_then_quantize() {
    let (rows, n) = (3usize, 320usize);
    let eps = 1e-6f32;
    let x = uniform(13, rows * n, 2.0);
    let res = uniform(14, rows * n, 1.0);
    let w = uniform(15, n, 1.5);
    let dims = LaunchDims {
        n: n as u32,
        rows: rows as u32,
        ..Default::default()
    };
    for residual in [false, true] {
        let mut gpu = Gpu::default();
        let (px, pr, pw) = (gpu.alloc_f32(&x), gpu.alloc_f32(&res), gpu.alloc_f32(&w));
        let py = nan_f32(&mut gpu, rows * n);
        let pq = gpu.alloc(&vec![0xAA; rows * n / 32 * 36]);
        let pfused = gpu.alloc(&vec![0x55; rows * n / 32 * 36]);
        let (px2, pr2) = (gpu.alloc_f32(&x), gpu.alloc_f32(&res));
        let args = |x: u64, r: u64, y: u64| {
            let mut a = vec![Arg::Ptr(x)];
            if residual {
                a.push(Arg::Ptr(r));
            }
            a.extend([Arg::Ptr(pw), Arg::Ptr(y), Arg::U32(n as u32), Arg::F32(eps)]);
            a
        };
        launch(
            &mut gpu,
            KernelType::RmsNorm {
                residual,
                target: T,
            },
            dims,
            &args(px, pr, py),
        );
        let qdims = LaunchDims {
            m: rows as u32,
            k: n as u32,
            ..Default::default()
        };
        let qargs = [
            Arg::Ptr(py),
            Arg::Ptr(pq),
            Arg::U32(rows as u32),
            Arg::U32(n as u32),
        ];
        launch(
            &mut gpu,
            KernelType::QuantizeQ8_1 { target: T },
            qdims,
            &qargs,
        );
        launch(
            &mut gpu,
            KernelType::RmsNormQ8_1 {
                residual,
                target: T,
            },
            dims,
            &args(px2, pr2, pfused),
        );
        assert_q8_1_planes_eq(
            gpu.bytes(pfused),
            gpu.bytes(pq),
            &format!("rms_norm_q8_1 residual={residual} vs rms_norm then quantize_q8_1"),
        );
        assert_eq!(gpu.f32s(pr2), gpu.f32s(pr), "residual stream");
    }
    assert!(
        KernelType::RmsNormQ8_1 {
            residual: false,
            target: T
        }
        .launch(&LaunchDims {
            n: 100,
            rows: 1,
            ..Default::default()
        })
        .is_err()
    );
}
