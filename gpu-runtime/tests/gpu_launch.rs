//! The launch path on a real GPU: kernel-ptx kernels against the quant-formats CPU references,
//! argument and dims errors, programmatic dependent launch, loaded-kernel resources.

mod common;

use common::{
    Q8_1_BYTES, QK, QuantizeThenGemv, gemv_cpu, nmse, open_gpu, quantize_q8_1_cpu, random_values,
    rng,
};
use gpu_runtime::{ArgMismatch, Gpu, GpuError, GpuOptions, GuardedBuffer, kernel_args};
use kernel_ptx::{KernelType, LaunchDims, ParamKind, select_matvec};
use quant_formats::{GgmlType, q8_1_planes_first_difference};

fn quantize_kernel(gpu: &Gpu) -> KernelType {
    KernelType::QuantizeQ8_1 {
        target: gpu.profile().sm_target().unwrap(),
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn quantize_q8_1_is_bit_identical_to_the_cpu_reference() {
    let gpu = open_gpu();
    let kernel = quantize_kernel(&gpu);
    let mut rng = rng(2);
    for (m, k) in [(1, 32), (3, 96), (5, 4096), (7, 160), (13, 1056)] {
        let mut x = random_values(&mut rng, m * k, -4.0..2.0);
        if x.len() >= 2 * QK {
            x[QK..2 * QK].fill(0.0); // an all-zero block: d = 0, id = 0
        }
        let x_dev = gpu.upload(&x).unwrap();
        let out_len = m * k / QK * Q8_1_BYTES;
        let y = GuardedBuffer::<u8>::new(&gpu, out_len, 64).unwrap();
        let dims = LaunchDims {
            m: m as u32,
            k: k as u32,
            ..LaunchDims::default()
        };
        gpu.launch(
            &kernel,
            &dims,
            &kernel_args![&x_dev, &y.payload(), m as u32, k as u32],
        )
        .unwrap();
        let got = y.to_host_checked().unwrap();
        let want = quantize_q8_1_cpu(&x, k);
        assert_eq!(got.len(), want.len(), "m={m} k={k}: length");
        if let Some(d) = q8_1_planes_first_difference(&got, &want) {
            panic!(
                "m={m} k={k}: first difference in block {} (row {}, block {} of the row), {} \
                 plane: got {:?} want {:?}",
                d.block,
                d.block / (k / QK),
                d.block % (k / QK),
                d.plane,
                d.got,
                d.want
            );
        }
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn gemv_q8_0_matches_the_cpu_reference() {
    let gpu = open_gpu();
    let mut rng = rng(3);
    for (n, k) in [(1, 32), (5, 256), (33, 1024), (1000, 4096)] {
        let w_f32 = random_values(&mut rng, n * k, -1.5..0.5);
        let w: Vec<u8> = w_f32
            .chunks_exact(k)
            .flat_map(|r| quant_formats::quantize_row(GgmlType::Q8_0, r).unwrap())
            .collect();
        let w_dev = gpu.upload(&w).unwrap();
        for m in [1, 2, 5, 8] {
            let x = random_values(&mut rng, m * k, -1.5..1.5);
            let xq = gpu.upload(&quantize_q8_1_cpu(&x, k)).unwrap();
            let y = GuardedBuffer::<f32>::new(&gpu, m * n, 32).unwrap();
            let kernel = select_matvec(
                GgmlType::Q8_0,
                m as u32,
                kernel_ptx::WeightShape {
                    n: n as u32,
                    k: k as u32,
                },
                &gpu.profile().lite(),
            )
            .unwrap();
            let dims = LaunchDims {
                n: n as u32,
                k: k as u32,
                m: m as u32,
                ..LaunchDims::default()
            };
            gpu.launch(
                &kernel,
                &dims,
                &kernel_args![&w_dev, &xq, &y.payload(), n as u32, k as u32],
            )
            .unwrap();
            let got = y.to_host_checked().unwrap();
            let want = gemv_cpu(GgmlType::Q8_0, &w, &x, n, k);
            assert!(
                got.iter().all(|v| v.is_finite()),
                "n={n} k={k} m={m}: unwritten outputs"
            );
            let err = nmse(&got, &want);
            assert!(err < 1e-10, "n={n} k={k} m={m} {kernel:?}: nmse {err}");
        }
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn argument_mismatches_are_errors_naming_kernel_param_and_dims() {
    let gpu = open_gpu();
    let kernel = quantize_kernel(&gpu);
    let x = gpu.alloc::<f32>(64).unwrap();
    let y = gpu.alloc::<u8>(2 * Q8_1_BYTES).unwrap();
    let dims = LaunchDims {
        m: 1,
        k: 64,
        ..LaunchDims::default()
    };

    let err = gpu
        .launch(&kernel, &dims, &kernel_args![&x, &y, 1u32])
        .unwrap_err();
    assert!(
        matches!(&err, GpuError::ArgMismatch { kernel, mismatch: ArgMismatch::Count { expected: 4, got: 3, .. }, .. } if kernel == "quantize_q8_1"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("quantize_q8_1") && message.contains("k: 64"),
        "{message}"
    );

    let err = gpu
        .launch(&kernel, &dims, &kernel_args![&x, &y, 1u32, 64.0f32])
        .unwrap_err();
    assert!(
        matches!(
            err,
            GpuError::ArgMismatch {
                mismatch: ArgMismatch::Kind {
                    index: 3,
                    param: "k",
                    expected: ParamKind::U32,
                    got: ParamKind::F32
                },
                ..
            }
        ),
        "{err}"
    );

    let bad_dims = LaunchDims {
        m: 1,
        k: 33,
        ..LaunchDims::default()
    };
    let err = gpu
        .launch(&kernel, &bad_dims, &kernel_args![&x, &y, 1u32, 33u32])
        .unwrap_err();
    assert!(matches!(err, GpuError::Geometry(_)), "{err}");
    assert!(err.to_string().contains("quantize_q8_1"), "{err}");

    let other = open_gpu();
    let foreign = other.alloc::<f32>(64).unwrap();
    let err = gpu
        .launch(&kernel, &dims, &kernel_args![&foreign, &y, 1u32, 64u32])
        .unwrap_err();
    assert!(
        matches!(err, GpuError::ForeignBuffer { param: "x", .. }),
        "{err}"
    );

    gpu.launch(&kernel, &dims, &kernel_args![&x, &y, 1u32, 64u32])
        .unwrap();
    gpu.synchronize().unwrap();
}

#[test]
#[ignore = "needs a CUDA device"]
fn programmatic_dependent_launch_gives_identical_results() {
    let with_pdl = Gpu::with_options(
        0,
        GpuOptions {
            programmatic_dependent_launch: true,
        },
    )
    .unwrap();
    let without = Gpu::with_options(
        0,
        GpuOptions {
            programmatic_dependent_launch: false,
        },
    )
    .unwrap();
    let run = |gpu: &Gpu| {
        let case = QuantizeThenGemv::new(gpu, 4096, 4096, 1, 4);
        for _ in 0..20 {
            case.launch(gpu).unwrap();
        }
        (case.y.to_host().unwrap(), case.reference())
    };
    let (a, want) = run(&with_pdl);
    let (b, _) = run(&without);
    assert_eq!(a, b);
    assert!(nmse(&a, &want) < 1e-10);
}

#[test]
#[ignore = "needs a CUDA device"]
fn sample_kernels_load_without_spills() {
    let gpu = open_gpu();
    let target = gpu.profile().sm_target().unwrap();
    for kernel in KernelType::samples() {
        let kernel = kernel.with_target(target);
        let r = gpu.kernel_resources(&kernel).unwrap();
        assert_eq!(
            r.local_bytes_per_thread,
            0,
            "{} spills: {r:?}",
            kernel.entry_name()
        );
        println!("{}: {r:?}", kernel.entry_name());
    }
    assert!(gpu.loaded_kernels() >= 2);
    let before = gpu.loaded_kernels();
    gpu.preload(
        &KernelType::samples()
            .iter()
            .map(|k| k.with_target(target))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(gpu.loaded_kernels(), before, "the cache reloaded a kernel");
}
