//! Running one gemv kernel on the emulator.

use super::{Arg, Gpu};
use kernel_ptx::{KernelType, LaunchDims};
use quant_formats::{GgmlType, QuantizedActivation, vec_dot_row};

/// `W · act` for every row of the `[n, k]` `format` matrix `w`, by quant-formats' oracle.
pub fn reference_rows(format: GgmlType, w: &[u8], n: usize, act: &QuantizedActivation) -> Vec<f32> {
    let row_bytes = w.len() / n;
    (0..n)
        .map(|r| vec_dot_row(format, &w[r * row_bytes..][..row_bytes], act).unwrap())
        .collect()
}

/// Launches gemv `kt` over `weights` (one matrix, or gate and up) and the activations `x`;
/// returns `y [m, n]`, pre-filled with NaN before the launch.
pub fn run_gemv(
    kt: &KernelType,
    weights: &[&[u8]],
    x: &[u8],
    n: usize,
    k: usize,
    m: usize,
) -> Vec<f32> {
    run_gemv_counting_bulk(kt, weights, 0, x, n, k, m).0
}

/// [`run_gemv`] with each weight matrix `pad` bytes into its allocation (to test alignment),
/// also returning the bytes the kernel moved by bulk copies.
pub fn run_gemv_counting_bulk(
    kt: &KernelType,
    weights: &[&[u8]],
    pad: usize,
    x: &[u8],
    n: usize,
    k: usize,
    m: usize,
) -> (Vec<f32>, u64) {
    let dims = LaunchDims {
        n: n as u32,
        k: k as u32,
        m: m as u32,
        rows: 0,
    };
    let geo = kt.launch(&dims).unwrap();
    let mut gpu = Gpu::default();
    let mut args: Vec<Arg> = weights
        .iter()
        .map(|w| {
            let padded: Vec<u8> = std::iter::repeat_n(0xA5, pad)
                .chain(w.iter().copied())
                .collect();
            Arg::Ptr(gpu.alloc(&padded) + pad as u64)
        })
        .collect();
    args.push(Arg::Ptr(gpu.alloc(x)));
    let y = gpu.alloc_f32(&vec![f32::NAN; m * n]);
    args.extend([Arg::Ptr(y), Arg::U32(n as u32), Arg::U32(k as u32)]);
    assert_eq!(args.len(), kt.params().len());
    gpu.launch(
        &kt.ptx(),
        geo.grid,
        geo.block,
        geo.dynamic_shared_bytes,
        &args,
    );
    (gpu.f32s(y), gpu.bulk_copied)
}
