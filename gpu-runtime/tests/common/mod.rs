//! Shared pieces of the GPU tests: seeded inputs, CPU references, comparisons.

#![allow(dead_code)]

use std::ops::Range;

use gpu_runtime::{DeviceBuffer, Gpu, GpuError};
use kernel_ptx::{KernelType, LaunchDims, select_matvec};
use quant_formats::{
    BlockQ8_1, GgmlType, QuantBlock, QuantizedActivation, q8_1_to_planes, quantize_row, vec_dot_row,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const QK: usize = 32;
pub const Q8_1_BYTES: usize = GgmlType::Q8_1.block_bytes();

pub fn open_gpu() -> Gpu {
    Gpu::new(0).expect("these tests need CUDA device 0")
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values; each 32-element block uniform in [-a, a], `a = 10^u`, `u` uniform in `log10_amp`.
pub fn random_values(rng: &mut ChaCha8Rng, n: usize, log10_amp: Range<f32>) -> Vec<f32> {
    let mut x = Vec::with_capacity(n);
    while x.len() < n {
        let amplitude = 10f32.powf(rng.random_range(log10_amp.clone()));
        x.extend((0..QK.min(n - x.len())).map(|_| amplitude * rng.random_range(-1.0f32..1.0)));
    }
    x
}

/// CPU `quantize_row_q8_1_ref` of `x [m, k]`: the blocks `[m, k / 32]` in the planar layout of
/// `q8_1_to_planes`, as `quantize_q8_1` writes them and the integer gemv reads them.
pub fn quantize_q8_1_cpu(x: &[f32], k: usize) -> Vec<u8> {
    assert!(k.is_multiple_of(QK) && x.len().is_multiple_of(k));
    let blocks: Vec<BlockQ8_1> = x.chunks_exact(QK).map(BlockQ8_1::quantize_block).collect();
    q8_1_to_planes(&blocks)
}

/// `y [m, n] = W [n, k] · x [m, k]` with `vec_dot_row` (ggml-cuda's vecdotq maths).
pub fn gemv_cpu(format: GgmlType, w: &[u8], x: &[f32], n: usize, k: usize) -> Vec<f32> {
    let row_bytes = k / format.block_elems() * format.block_bytes();
    let mut y = Vec::with_capacity(x.len() / k * n);
    for x_row in x.chunks_exact(k) {
        let act = QuantizedActivation::for_weight(format, x_row).unwrap();
        y.extend(
            w.chunks_exact(row_bytes)
                .map(|w_row| vec_dot_row(format, w_row, &act).unwrap()),
        );
    }
    y
}

/// Normalised mean squared error `Σ(a-b)² / Σb²` (test-backend-ops' `nmse`).
pub fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let err: f64 = got
        .iter()
        .zip(want)
        .map(|(g, w)| (f64::from(*g) - f64::from(*w)).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|w| f64::from(*w).powi(2)).sum();
    err / norm.max(f64::MIN_POSITIVE)
}

/// The device buffers and kernels of `y = W · quantize_q8_1(x)` for one shape.
pub struct QuantizeThenGemv {
    pub quantize: KernelType,
    pub gemv: KernelType,
    pub n: usize,
    pub k: usize,
    pub m: usize,
    pub w: DeviceBuffer<u8>,
    pub x: DeviceBuffer<f32>,
    pub xq: DeviceBuffer<u8>,
    pub y: DeviceBuffer<f32>,
    pub w_host: Vec<u8>,
}

impl QuantizeThenGemv {
    /// Q8_0 weights `[n, k]` and f32 activations `[m, k]`, seeded.
    pub fn new(gpu: &Gpu, n: usize, k: usize, m: usize, seed: u64) -> Self {
        let format = GgmlType::Q8_0;
        let mut rng = rng(seed);
        let w_f32 = random_values(&mut rng, n * k, -1.5..0.5);
        let w_host: Vec<u8> = w_f32
            .chunks_exact(k)
            .flat_map(|r| quantize_row(format, r).unwrap())
            .collect();
        let x_host = random_values(&mut rng, m * k, -1.5..1.5);
        let quantize = KernelType::QuantizeQ8_1 {
            target: gpu.profile().sm_target().expect("sm_80 or newer"),
        };
        let gemv = select_matvec(
            format,
            m as u32,
            kernel_ptx::WeightShape {
                n: n as u32,
                k: k as u32,
            },
            &gpu.profile().lite(),
        )
        .unwrap();
        QuantizeThenGemv {
            quantize,
            gemv,
            n,
            k,
            m,
            w: gpu.upload(&w_host).unwrap(),
            x: gpu.upload(&x_host).unwrap(),
            xq: gpu.alloc(m * k / QK * Q8_1_BYTES).unwrap(),
            y: gpu.alloc(m * n).unwrap(),
            w_host,
        }
    }

    pub fn quantize_dims(&self) -> LaunchDims {
        LaunchDims {
            m: self.m as u32,
            k: self.k as u32,
            ..LaunchDims::default()
        }
    }

    pub fn gemv_dims(&self) -> LaunchDims {
        LaunchDims {
            n: self.n as u32,
            k: self.k as u32,
            m: self.m as u32,
            ..LaunchDims::default()
        }
    }

    /// Queues quantize then gemv (eager, or recorded during capture).
    pub fn launch(&self, gpu: &Gpu) -> Result<(), GpuError> {
        let (m, k, n) = (self.m as u32, self.k as u32, self.n as u32);
        gpu.launch(
            &self.quantize,
            &self.quantize_dims(),
            &gpu_runtime::kernel_args![&self.x, &self.xq, m, k],
        )?;
        gpu.launch(
            &self.gemv,
            &self.gemv_dims(),
            &gpu_runtime::kernel_args![&self.w, &self.xq, &self.y, n, k],
        )
    }

    /// The CPU reference of the current `x`.
    pub fn reference(&self) -> Vec<f32> {
        let x = self.x.to_host().unwrap();
        gemv_cpu(GgmlType::Q8_0, &self.w_host, &x, self.n, self.k)
    }
}
