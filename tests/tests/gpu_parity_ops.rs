//! GPU parity of every kernel outside the gemv family (test-backend-ops style): quantize_q8_1,
//! rms_norm (plain, fused residual, fused Q8_1), add, swiglu, rope (normal, NeoX), embedding
//! (every table format) and the two-stage argmax, over ragged dims, NaN-poisoned outputs
//! between guard regions, the failing case printed.
//!
//! Oracles: quant-formats' `quantize_row` / `dequantize_row` and the Q8_1 block functions
//! behind them (bit for bit: the kernels mirror ggml's reference operation order; Q8_1 output
//! is compared in the planar layout of `q8_1_to_planes`), model-llama's CPU forward ops
//! (`CpuOps::rms_norm`, `add_assign`, `swiglu`, `RopeTable::rotate` with the same `RopeTable`
//! the forward builds, llama3 factors included) and the greedy sampler's first-maximum rule for
//! argmax.
//!
//! NMSE bounds (expected error, then the margin):
//! - rms_norm: `sqrt.rn` + `rcp.rn`; only the f32 sum of squares (per-thread partials, then a
//!   block tree) differs from the f64 reference, a relative scale error of ~1e-6 at n = 4192,
//!   nmse ~1e-12. Bound 1e-9.
//! - swiglu: `ex2.approx` (~2 ulp) of `-g·log2 e` (rounding the product costs `|g|·6e-8`
//!   relative, |g| < 8 here), then `div.rn`: relative error ≤ ~1e-6, nmse ≤ 1e-12. Bound 1e-10.
//! - rope: `sin/cos.approx` after a two-constant reduction to [-π, π] (absolute error ~1e-6,
//!   the reduction adds < 1e-9 even at position 131071); the angle `pos·inv_freq` is rounded
//!   to f32 identically on both sides. A rotation keeps the norm, so nmse ~1e-12. Bound 1e-9.

use std::fmt::Debug;

use gpu_runtime::{DeviceBuffer, Gpu, GuardedBuffer, kernel_args};
use kernel_ptx::kernels::{argmax, embedding};
use kernel_ptx::{Embedding, KernelType, LaunchDims, SmTarget};
use model_llama::config::{
    Architecture, Llama3RopeScaling, ModelConfig, RopePairing, llama3_frequency_factors,
};
use model_llama::files::{FileError, TensorInfo, TensorSource};
use model_llama::forward::{CpuAct, CpuOps, ForwardOps, RopeTable};
use model_llama::sampling::{Sampler, SamplingParams};
use quant_formats::{
    BlockQ8_1, GgmlType, QuantBlock, dequantize_row, q8_1_from_planes,
    q8_1_planes_first_difference, q8_1_to_planes, quantize_row,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tests::parity::{
    assert_identical, assert_parity, bits, download, gpu, in_out, nmse, output, random_values,
};

/// Row counts (tokens) of every row-wise case.
const ROWS: [usize; 3] = [1, 3, 7];
/// Ragged row lengths (multiples of 32, as the Q8_1 kernels need): tiny, odd block count,
/// Llama-8B width plus a ragged tail.
const HIDDEN: [usize; 3] = [64, 320, 4096 + 96];
const EPS: f32 = 1e-5;
const NORM_MAX_NMSE: f64 = 1e-9;
const SWIGLU_MAX_NMSE: f64 = 1e-10;
const ROPE_MAX_NMSE: f64 = 1e-9;
const QK8_1: usize = GgmlType::Q8_1.block_elems();
const Q8_1_BYTES: usize = GgmlType::Q8_1.block_bytes();

/// One launch: the kernel, its runtime dims and the input seed (printed on failure).
#[derive(Clone, Copy, Debug)]
struct Case {
    kernel: KernelType,
    dims: LaunchDims,
    seed: u64,
}

fn target(gpu: &Gpu) -> SmTarget {
    gpu.profile()
        .sm_target()
        .expect("the parity tests need sm_80 or newer")
}

fn launch(gpu: &Gpu, case: &Case, args: &[gpu_runtime::KernelArg<'_>]) {
    gpu.launch(&case.kernel, &case.dims, args)
        .unwrap_or_else(|e| panic!("{case:?} ({}): launch: {e}", case.kernel.entry_name()));
}

fn upload<T: gpu_runtime::Element>(gpu: &Gpu, values: &[T], case: &Case) -> DeviceBuffer<T> {
    gpu.upload(values)
        .unwrap_or_else(|e| panic!("{case:?}: upload of {} elements: {e}", values.len()))
}

/// The CPU forward ops used here read no tensors; `CpuOps` still wants a source.
struct NoTensors;

impl TensorSource for NoTensors {
    fn source_name(&self) -> &str {
        "parity reference (no tensors)"
    }
    fn tensors(&self) -> &[TensorInfo] {
        &[]
    }
    fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError> {
        Err(FileError::MissingTensor {
            path: self.source_name().to_owned(),
            tensor: name.to_owned(),
        })
    }
    fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        unreachable!(
            "the parity references read no tensors, asked for {}",
            info.name
        )
    }
}

fn act(rows: usize, cols: usize, data: Vec<f32>) -> CpuAct {
    assert_eq!(data.len(), rows * cols);
    CpuAct { rows, cols, data }
}

/// `CpuOps::rms_norm` of `h [rows, n]` with weight `w [n]`.
fn rms_norm_reference(h: &[f32], w: &[f32], rows: usize, n: usize) -> Vec<f32> {
    let mut ops = CpuOps { source: &NoTensors };
    let x = act(rows, n, h.to_vec());
    let mut out = act(rows, n, vec![0.0; rows * n]);
    ops.rms_norm(&x, &w.to_vec(), EPS, &mut out)
        .expect("the CPU rms_norm cannot fail");
    out.data
}

/// `x + residual` by `CpuOps::add_assign` (the residual stream after the fused add).
fn add_reference(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut ops = CpuOps { source: &NoTensors };
    let mut x = act(1, a.len(), a.to_vec());
    ops.add_assign(&mut x, &act(1, b.len(), b.to_vec()))
        .expect("the CPU add cannot fail");
    x.data
}

/// `[rows, n / 32]` Q8_1 blocks of `values [rows, n]`, by `quantize_row_q8_1_ref`.
fn quantize_rows_q8_1(values: &[f32], n: usize) -> Vec<BlockQ8_1> {
    assert!(n.is_multiple_of(QK8_1), "n = {n} is not whole Q8_1 blocks");
    values
        .chunks_exact(QK8_1)
        .map(BlockQ8_1::quantize_block)
        .collect()
}

fn dequantize_q8_1(blocks: &[BlockQ8_1]) -> Vec<f32> {
    let mut out = vec![0.0; blocks.len() * QK8_1];
    for (block, y) in blocks.iter().zip(out.chunks_exact_mut(QK8_1)) {
        block.dequantize_block(y);
    }
    out
}

/// Byte equality of planar Q8_1 buffers (`q8_1_to_planes` of `[rows, blocks_per_row]` blocks);
/// the first difference is reported as its row, block and plane (quants or `{ d, s }`), with
/// both copies of that block's part of the plane.
fn assert_q8_1_planes_identical(
    case: &Case,
    what: &str,
    got: &[u8],
    want: &[u8],
    blocks_per_row: usize,
) {
    assert_eq!(got.len(), want.len(), "{case:?}: {what}: length");
    if let Some(d) = q8_1_planes_first_difference(got, want) {
        panic!(
            "{case:?}: {what}: {} of {} bytes differ; first in row {}, block {} of the {} \
             plane: got {:?}, want {:?}",
            d.differing,
            got.len(),
            d.block / blocks_per_row,
            d.block % blocks_per_row,
            d.plane,
            d.got,
            d.want
        );
    }
}

fn quantize_case(gpu: &Gpu, rows: usize, n: usize, seed: u64) {
    let kernel = KernelType::QuantizeQ8_1 {
        target: target(gpu),
    };
    let dims = LaunchDims {
        m: rows as u32,
        k: n as u32,
        ..LaunchDims::default()
    };
    let case = Case { kernel, dims, seed };
    let (m, k) = (dims.m as usize, dims.k as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f32> = random_values(&mut rng, m * k)
        .iter()
        .map(|v| v * 3.0)
        .collect();
    // Block 0: amax 127 makes d = 1 and id = 1, so these hit exact .5 ties (roundf rounds
    // away from zero); block 1 is all zeros (d = 0, id = 0).
    x[..4].copy_from_slice(&[127.0, 2.5, -3.5, -0.5]);
    x[QK8_1..2 * QK8_1].fill(0.0);

    let x_dev = upload(gpu, &x, &case);
    let y = output::<u8>(gpu, m * k / QK8_1 * Q8_1_BYTES, &case);
    let y_view = y.payload();
    launch(gpu, &case, &kernel_args![&x_dev, &y_view, dims.m, dims.k]);
    let got = download(&y, "y", &case);
    let want = q8_1_to_planes(&quantize_rows_q8_1(&x, k));
    assert_q8_1_planes_identical(&case, "Q8_1 planes", &got, &want, k / QK8_1);
}

#[test]
#[ignore = "needs a CUDA device"]
fn quantize_q8_1_parity() {
    let gpu = gpu();
    let mut seed = 100;
    for rows in ROWS {
        for n in HIDDEN {
            quantize_case(&gpu, rows, n, seed);
            seed += 1;
        }
    }
}

/// Inputs of one norm case: `x`, the residual stream before the add, the weight.
struct NormInputs {
    x: Vec<f32>,
    residual: Vec<f32>,
    w: Vec<f32>,
}

impl NormInputs {
    fn new(case: &Case) -> Self {
        let (rows, n) = (case.dims.rows as usize, case.dims.n as usize);
        let mut rng = ChaCha8Rng::seed_from_u64(case.seed);
        NormInputs {
            x: random_values(&mut rng, rows * n),
            residual: random_values(&mut rng, rows * n),
            w: random_values(&mut rng, n),
        }
    }

    /// The row the kernel normalises: `x`, or `x + residual` in the fused form.
    fn h(&self, residual: bool) -> Vec<f32> {
        if residual {
            add_reference(&self.x, &self.residual)
        } else {
            self.x.clone()
        }
    }
}

/// Launches an `RmsNorm` or `RmsNormQ8_1` case into `y`; returns the residual stream after it.
fn launch_norm<T: gpu_runtime::Element>(
    gpu: &Gpu,
    case: &Case,
    inputs: &NormInputs,
    residual: bool,
    y: &GuardedBuffer<T>,
) -> Vec<f32> {
    let x = upload(gpu, &inputs.x, case);
    let w = upload(gpu, &inputs.w, case);
    let stream = in_out(gpu, &inputs.residual, case);
    let (stream_view, y_view) = (stream.payload(), y.payload());
    let (n, eps) = (case.dims.n, EPS);
    if residual {
        launch(
            gpu,
            case,
            &kernel_args![&x, &stream_view, &w, &y_view, n, eps],
        );
    } else {
        launch(gpu, case, &kernel_args![&x, &w, &y_view, n, eps]);
    }
    download(&stream, "residual stream", case)
}

fn rms_norm_case(gpu: &Gpu, residual: bool, rows: usize, n: usize, seed: u64) {
    let kernel = KernelType::RmsNorm {
        residual,
        target: target(gpu),
    };
    let dims = LaunchDims {
        rows: rows as u32,
        n: n as u32,
        ..LaunchDims::default()
    };
    let case = Case { kernel, dims, seed };
    let (rows, n) = (dims.rows as usize, dims.n as usize);
    let inputs = NormInputs::new(&case);
    let y = output::<f32>(gpu, rows * n, &case);
    let stream = launch_norm(gpu, &case, &inputs, residual, &y);
    let got = download(&y, "y", &case);

    let h = inputs.h(residual);
    let want = rms_norm_reference(&h, &inputs.w, rows, n);
    assert_parity(&case, "y", &got, &want, n, NORM_MAX_NMSE);
    let stream_want = if residual { &h } else { &inputs.residual };
    assert_identical(
        &case,
        "residual stream",
        &bits(&stream),
        &bits(stream_want),
        n,
    );
}

/// The fused kernel equals `rms_norm` then `quantize_q8_1` on the device byte for byte (its
/// documented contract), and its dequantised output is as close to the CPU norm as the CPU's
/// own Q8_1 rounding of that norm (rounding error ~d²/12 per value either way; the device norm
/// differs by ~1e-6 relative, which moves a value across a rounding boundary only where both
/// choices are ~d/2 away, and at most flips an f16 `d` by one ulp). Bound: 1.25× the CPU's.
fn rms_norm_q8_1_case(gpu: &Gpu, residual: bool, rows: usize, n: usize, seed: u64) {
    let target = target(gpu);
    let dims = LaunchDims {
        rows: rows as u32,
        n: n as u32,
        ..LaunchDims::default()
    };
    let case = Case {
        kernel: KernelType::RmsNormQ8_1 { residual, target },
        dims,
        seed,
    };
    let (rows, n) = (dims.rows as usize, dims.n as usize);
    let q8_len = rows * n / QK8_1 * Q8_1_BYTES;
    let inputs = NormInputs::new(&case);
    let fused = output::<u8>(gpu, q8_len, &case);
    let fused_stream = launch_norm(gpu, &case, &inputs, residual, &fused);
    let fused = download(&fused, "y", &case);

    let norm_case = Case {
        kernel: KernelType::RmsNorm { residual, target },
        ..case
    };
    let normed = output::<f32>(gpu, rows * n, &norm_case);
    let norm_stream = launch_norm(gpu, &norm_case, &inputs, residual, &normed);
    let quantize_case = Case {
        kernel: KernelType::QuantizeQ8_1 { target },
        dims: LaunchDims {
            m: dims.rows,
            k: dims.n,
            ..LaunchDims::default()
        },
        seed,
    };
    let separate = output::<u8>(gpu, q8_len, &quantize_case);
    let (normed_view, separate_view) = (normed.payload(), separate.payload());
    launch(
        gpu,
        &quantize_case,
        &kernel_args![&normed_view, &separate_view, dims.rows, dims.n],
    );
    let separate = download(&separate, "y", &quantize_case);
    assert_q8_1_planes_identical(
        &case,
        "fused vs rms_norm then quantize_q8_1",
        &fused,
        &separate,
        n / QK8_1,
    );
    assert_identical(
        &case,
        "residual stream",
        &bits(&fused_stream),
        &bits(&norm_stream),
        n,
    );

    let want = rms_norm_reference(&inputs.h(residual), &inputs.w, rows, n);
    let got = dequantize_q8_1(&q8_1_from_planes(&fused).expect("whole Q8_1 blocks"));
    let cpu_rounding = nmse(&dequantize_q8_1(&quantize_rows_q8_1(&want, n)), &want);
    assert_parity(&case, "dequantised y", &got, &want, n, 1.25 * cpu_rounding);
}

fn norm_cases(q8_1: bool, residual: bool) {
    let gpu = gpu();
    let mut seed = if residual { 300 } else { 200 };
    for rows in ROWS {
        for n in HIDDEN {
            if q8_1 {
                rms_norm_q8_1_case(&gpu, residual, rows, n, seed);
            } else {
                rms_norm_case(&gpu, residual, rows, n, seed);
            }
            seed += 1;
        }
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn rms_norm_parity() {
    norm_cases(false, false);
}

#[test]
#[ignore = "needs a CUDA device"]
fn rms_norm_fused_residual_parity() {
    norm_cases(false, true);
}

#[test]
#[ignore = "needs a CUDA device"]
fn rms_norm_q8_1_parity() {
    norm_cases(true, false);
}

#[test]
#[ignore = "needs a CUDA device"]
fn rms_norm_fused_residual_q8_1_parity() {
    norm_cases(true, true);
}

/// `add` (bit for bit, also in place: `out` aliasing `a`) or `swiglu` (NMSE) over `rows * n`.
fn elementwise_case(gpu: &Gpu, swiglu: bool, rows: usize, n: usize, seed: u64) {
    let target = target(gpu);
    let kernel = if swiglu {
        KernelType::Swiglu { target }
    } else {
        KernelType::Add { target }
    };
    let dims = LaunchDims {
        rows: rows as u32,
        n: n as u32,
        ..LaunchDims::default()
    };
    let case = Case { kernel, dims, seed };
    let count = dims.rows * dims.n;
    let len = count as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Gate values up to ±8 reach both tails of the sigmoid.
    let a: Vec<f32> = random_values(&mut rng, len)
        .iter()
        .map(|v| v * 8.0)
        .collect();
    let b = random_values(&mut rng, len);
    let (a_dev, b_dev) = (upload(gpu, &a, &case), upload(gpu, &b, &case));
    let out = output::<f32>(gpu, len, &case);
    let out_view = out.payload();
    launch(gpu, &case, &kernel_args![&a_dev, &b_dev, &out_view, count]);
    let got = download(&out, "out", &case);

    let row_len = dims.n as usize;
    if swiglu {
        let mut ops = CpuOps { source: &NoTensors };
        let mut want = act(1, len, vec![0.0; len]);
        ops.swiglu(&act(1, len, a), &act(1, len, b), &mut want)
            .expect("the CPU swiglu cannot fail");
        assert_parity(&case, "out", &got, &want.data, row_len, SWIGLU_MAX_NMSE);
    } else {
        let want = add_reference(&a, &b);
        assert_identical(&case, "out", &bits(&got), &bits(&want), row_len);
        let in_place = in_out(gpu, &a, &case);
        let in_place_view = in_place.payload();
        launch(
            gpu,
            &case,
            &kernel_args![&in_place_view, &b_dev, &in_place_view, count],
        );
        let got = download(&in_place, "out aliasing a", &case);
        assert_identical(&case, "out aliasing a", &bits(&got), &bits(&want), row_len);
    }
}

fn elementwise_cases(swiglu: bool) {
    let gpu = gpu();
    let mut seed = if swiglu { 500 } else { 400 };
    // n = 4192 × rows 7 is not a multiple of the 256-thread block either.
    for rows in ROWS {
        for n in [1usize, 37, 4096 + 96] {
            elementwise_case(&gpu, swiglu, rows, n, seed);
            seed += 1;
        }
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn add_parity() {
    elementwise_cases(false);
}

#[test]
#[ignore = "needs a CUDA device"]
fn swiglu_parity() {
    elementwise_cases(true);
}

/// Llama 3.1's `rope_scaling` (config.json of Meta-Llama-3.1-8B).
const LLAMA31_SCALING: Llama3RopeScaling = Llama3RopeScaling {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192.0,
};
const ROPE_THETA: f64 = 500_000.0;

/// The `RopeTable` the CPU forward builds for a model with these rope settings.
fn rope_table(head_dim: usize, neox: bool, llama3: bool) -> RopeTable {
    let config = ModelConfig {
        arch: Architecture::Llama,
        hidden_size: head_dim,
        n_layers: 1,
        ffn_size: head_dim,
        n_heads: 1,
        n_kv_heads: 1,
        head_dim,
        vocab_size: 1,
        rms_norm_eps: EPS,
        rope_theta: ROPE_THETA,
        rope_dim: head_dim,
        rope_freq_factors: llama3
            .then(|| llama3_frequency_factors(ROPE_THETA, head_dim, &LLAMA31_SCALING)),
        rope_pairing: if neox {
            RopePairing::HalfSplit
        } else {
            RopePairing::Adjacent
        },
        max_context: 131_072,
        qkv_bias: false,
        attn_out_bias: false,
        qk_norm: false,
        tied_embeddings: false,
    };
    RopeTable::new(&config)
}

/// One rope case: `x [positions.len(), heads, head_dim]` rotated in place, positions read
/// from device memory.
fn rope_case(
    gpu: &Gpu,
    neox: bool,
    positions: &[u32],
    heads: usize,
    head_dim: usize,
    llama3: bool,
) {
    let seed = 600 + positions.len() as u64 * 10 + heads as u64;
    let kernel = KernelType::Rope {
        neox,
        target: target(gpu),
    };
    let dims = LaunchDims {
        rows: positions.len() as u32,
        n: heads as u32,
        k: head_dim as u32,
        m: 0,
    };
    let case = Case { kernel, dims, seed };
    let table = rope_table(dims.k as usize, neox, llama3);
    let (tokens, heads, head_dim) = (dims.rows as usize, dims.n as usize, dims.k as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = random_values(&mut rng, tokens * heads * head_dim);

    let pos_dev = upload(gpu, positions, &case);
    let freq_dev = upload(gpu, &table.inv_freq, &case);
    assert_eq!(
        table.inv_freq.len(),
        head_dim / 2,
        "{case:?}: inv_freq length"
    );
    let x_dev = in_out(gpu, &x, &case);
    let x_view = x_dev.payload();
    launch(
        gpu,
        &case,
        &kernel_args![&x_view, &pos_dev, &freq_dev, dims.rows, dims.n, dims.k],
    );
    let got = download(&x_dev, "x", &case);

    let mut want = x;
    for (token, &pos) in want.chunks_mut(heads * head_dim).zip(positions) {
        for head in token.chunks_mut(head_dim) {
            table.rotate(head, pos as usize);
        }
    }
    let what = format!("x (positions {positions:?}, llama3 {llama3})");
    assert_parity(&case, &what, &got, &want, head_dim, ROPE_MAX_NMSE);
}

fn rope_cases(neox: bool) {
    let gpu = gpu();
    // (positions, heads, head_dim, llama3 factors): a decode step far into the context, a
    // prompt start, and a batch mixing small and large positions (131071: Llama 3.1's last).
    let cases: [(&[u32], usize, usize, bool); 5] = [
        (&[8191], 8, 128, true),
        (&[0, 1, 17], 5, 64, false),
        (&[0, 1, 17, 8191, 131_071, 4096, 3], 3, 128, true),
        (&[17, 8191, 2], 32, 128, false),
        (&[131_071], 1, 64, true),
    ];
    for (positions, heads, head_dim, llama3) in cases {
        rope_case(&gpu, neox, positions, heads, head_dim, llama3);
    }
}

#[test]
#[ignore = "needs a CUDA device"]
fn rope_normal_parity() {
    rope_cases(false);
}

#[test]
#[ignore = "needs a CUDA device"]
fn rope_neox_parity() {
    rope_cases(true);
}

/// Gathers `ids` from a `[vocab, n]` table in `format`; bit for bit against `dequantize_row`,
/// an id ≥ vocab giving a row of the canonical NaN the kernel stores (not the all-ones poison).
fn embedding_case(gpu: &Gpu, format: GgmlType, ids: &[u32], vocab: usize, n: usize, seed: u64) {
    let kernel = KernelType::Embedding(
        Embedding::new(format, target(gpu)).unwrap_or_else(|e| panic!("{format}: {e}")),
    );
    let dims = LaunchDims {
        rows: ids.len() as u32,
        n: n as u32,
        ..LaunchDims::default()
    };
    let case = Case { kernel, dims, seed };
    let (tokens, n) = (dims.rows as usize, dims.n as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let table: Vec<u8> = random_values(&mut rng, vocab * n)
        .chunks(n)
        .flat_map(|row| quantize_row(format, row).expect("n is whole blocks"))
        .collect();
    let row_bytes = table.len() / vocab;

    let table_dev = upload(gpu, &table, &case);
    let ids_dev = upload(gpu, ids, &case);
    let out = output::<f32>(gpu, tokens * n, &case);
    let out_view = out.payload();
    launch(
        gpu,
        &case,
        &kernel_args![&table_dev, &ids_dev, &out_view, dims.n, vocab as u32],
    );
    let got = download(&out, "out", &case);

    let mut want = vec![f32::NAN; tokens * n];
    for (row, &id) in want.chunks_mut(n).zip(ids) {
        let id = id as usize;
        if id < vocab {
            dequantize_row(format, &table[id * row_bytes..(id + 1) * row_bytes], row)
                .expect("whole blocks");
        }
    }
    let what = format!("out (ids {ids:?}, vocab {vocab})");
    assert_identical(&case, &what, &bits(&got), &bits(&want), n);
}

fn embedding_cases(format: GgmlType) {
    let gpu = gpu();
    let vocab = 37usize;
    let last = vocab as u32 - 1;
    let ns = match format.block_elems() {
        256 => [256usize, 3 * 256, 17 * 256],
        _ => HIDDEN,
    };
    // First and last rows, repeats, and one id past the vocabulary.
    let id_lists: [&[u32]; 3] = [
        &[last],
        &[0, last, 5],
        &[last, 0, 0, 12, vocab as u32, 36, 1],
    ];
    let mut seed = 700;
    for (ids, n) in id_lists.iter().zip(ns) {
        embedding_case(&gpu, format, ids, vocab, n, seed);
        seed += 1;
    }
    for n in ns {
        embedding_case(&gpu, format, &[0, last], vocab, n, seed);
        seed += 1;
    }
}

macro_rules! embedding_parity_tests {
    ($($name:ident => $format:expr;)*) => {$(
        #[test]
        #[ignore = "needs a CUDA device"]
        fn $name() {
            embedding_cases($format);
        }
    )*};
}

embedding_parity_tests! {
    embedding_parity_f32 => GgmlType::F32;
    embedding_parity_f16 => GgmlType::F16;
    embedding_parity_bf16 => GgmlType::BF16;
    embedding_parity_q8_0 => GgmlType::Q8_0;
    embedding_parity_q4_k => GgmlType::Q4_K;
    embedding_parity_q6_k => GgmlType::Q6_K;
}

/// Every table format the gather supports has a test above.
#[test]
fn embedding_tests_cover_every_format() {
    let tested = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
    ];
    assert_eq!(embedding::FORMATS.as_slice(), tested.as_slice());
}

/// The greedy choice over `logits`: the sampler's first maximum over finite candidates; when
/// there is none (all -inf / NaN), the first non-NaN index, as the kernel documents.
fn argmax_reference(logits: &[f32]) -> u32 {
    let greedy = Sampler::new(SamplingParams::greedy()).expect("greedy parameters are valid");
    match greedy.candidates(logits) {
        Ok(best) => best[0].0,
        Err(_) => logits
            .iter()
            .position(|v| !v.is_nan())
            .map_or(u32::MAX, |i| i as u32),
    }
}

/// Row `r` of an argmax case: random logits with features by `r % 3`.
/// 0: a tie for the maximum between the middle and the last index (different stage-1 chunks
///    at large n), NaN at index 1, scattered -inf; 1: all -inf (answer 0);
/// 2: NaN first, all negative, a tie straddling the first chunk boundary.
fn argmax_row(rng: &mut ChaCha8Rng, r: usize, n: usize) -> Vec<f32> {
    let chunk = argmax::CHUNK as usize;
    let mut row: Vec<f32> = random_values(rng, n).iter().map(|v| v * 10.0).collect();
    match r % 3 {
        0 => {
            for v in row.iter_mut().step_by(97).skip(1) {
                *v = f32::NEG_INFINITY;
            }
            if n > 2 {
                row[1] = f32::NAN;
            }
            row[n / 2] = 50.0;
            row[n - 1] = 50.0;
        }
        1 => row.fill(f32::NEG_INFINITY),
        _ => {
            row.iter_mut().for_each(|v| *v = -v.abs() - 1.0);
            if n > 1 {
                row[0] = f32::NAN;
            }
            let (lo, hi) = if n > chunk {
                (chunk - 1, chunk)
            } else {
                (n / 3, n - 1)
            };
            if n > 2 {
                row[lo] = -0.5;
                row[hi] = -0.5;
            }
        }
    }
    row
}

fn argmax_case(gpu: &Gpu, rows: usize, n: usize, seed: u64) {
    let target = target(gpu);
    let dims = LaunchDims {
        rows: rows as u32,
        n: n as u32,
        ..LaunchDims::default()
    };
    let partial = Case {
        kernel: KernelType::ArgmaxPartial { target },
        dims,
        seed,
    };
    let final_case = Case {
        kernel: KernelType::ArgmaxFinal { target },
        ..partial
    };
    let (rows, n) = (dims.rows as usize, dims.n as usize);
    let parts = argmax::parts(dims.n) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let logits: Vec<f32> = (0..rows).flat_map(|r| argmax_row(&mut rng, r, n)).collect();

    let logits_dev = upload(gpu, &logits, &partial);
    let part_val = output::<f32>(gpu, rows * parts, &partial);
    let part_idx = output::<u32>(gpu, rows * parts, &partial);
    let out = output::<u32>(gpu, rows, &final_case);
    let (val_view, idx_view, out_view) = (part_val.payload(), part_idx.payload(), out.payload());
    launch(
        gpu,
        &partial,
        &kernel_args![&logits_dev, &val_view, &idx_view, dims.n],
    );
    launch(
        gpu,
        &final_case,
        &kernel_args![&val_view, &idx_view, &out_view, dims.n],
    );
    let got = download(&out, "out", &final_case);
    let got_idx = download(&part_idx, "part_idx", &partial);
    let got_val = download(&part_val, "part_val", &partial);

    let chunk = argmax::CHUNK as usize;
    let mut want_idx = Vec::with_capacity(rows * parts);
    for row in logits.chunks(n) {
        for (c, part) in row.chunks(chunk).enumerate() {
            want_idx.push(match argmax_reference(part) {
                u32::MAX => u32::MAX,
                i => (c * chunk) as u32 + i,
            });
        }
    }
    assert_identical(&partial, "part_idx", &got_idx, &want_idx, parts);
    let want_val: Vec<f32> = want_idx
        .iter()
        .enumerate()
        .map(|(slot, &i)| match i {
            u32::MAX => f32::NEG_INFINITY,
            i => logits[slot / parts * n + i as usize],
        })
        .collect();
    assert_identical(
        &partial,
        "part_val",
        &bits(&got_val),
        &bits(&want_val),
        parts,
    );

    let want: Vec<u32> = logits.chunks(n).map(argmax_reference).collect();
    assert_identical(&final_case, "out", &got, &want, 1);
}

#[test]
#[ignore = "needs a CUDA device"]
fn argmax_two_stage_parity() {
    let gpu = gpu();
    let mut seed = 800;
    for n in [1usize, 7, 4097, 128_256] {
        for rows in [1usize, 3] {
            argmax_case(&gpu, rows, n, seed);
            seed += 1;
        }
    }
}
