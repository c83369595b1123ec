//! The CPU reference backend: f32 activations, matrices read from the mapped file as stored and
//! dequantised one row at a time (no dequantised copy of the model), rayon across rows.
//!
//! Dequantise-then-f32-dot is chosen over `quant_formats::vec_dot_row` (which quantises the
//! activations to Q8_1 as llama.cpp's GPU kernels do) because it is the more exact of the two:
//! the only error left is the weights' own quantisation, so this backend tracks Hugging Face's
//! float forward as closely as the file allows.

use super::error::ForwardError;
use super::kv_cache::CpuKvCache;
use super::ops::{AttentionShape, ForwardOps};
use super::rope::RopeTable;
use crate::files::{TensorInfo, TensorSource};
use crate::weights::{WeightError, WeightSink};
use rayon::prelude::*;

/// A weight matrix `[rows, cols]` left in the file; `info` locates its bytes.
#[derive(Clone, Debug)]
pub struct CpuMatrix {
    pub info: TensorInfo,
    pub rows: usize,
    pub cols: usize,
    /// Bytes of one stored row (`cols / block_elems * block_bytes`).
    pub row_bytes: usize,
}

/// Activations `[rows, cols]` f32, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuAct {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl CpuAct {
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// Builds [`CpuMatrix`] handles (no copy) and f32 vectors.
pub struct CpuWeightSink<'a> {
    pub source_name: &'a str,
}

impl WeightSink for CpuWeightSink<'_> {
    type Matrix = CpuMatrix;
    type Vector = Vec<f32>;

    fn matrix(&mut self, info: &TensorInfo, bytes: &[u8]) -> Result<CpuMatrix, WeightError> {
        let too_large = || WeightError::TooLarge {
            source_name: self.source_name.to_owned(),
            tensor: info.name.clone(),
        };
        let (rows, cols) = match info.shape[..] {
            [rows, cols] => (
                usize::try_from(rows).map_err(|_| too_large())?,
                usize::try_from(cols).map_err(|_| too_large())?,
            ),
            _ => return Err(too_large()),
        };
        // Tensor validation guarantees the innermost dimension is whole blocks.
        let row_bytes = cols / info.ty.block_elems() * info.ty.block_bytes();
        debug_assert_eq!(row_bytes * rows, bytes.len());
        Ok(CpuMatrix {
            info: info.clone(),
            rows,
            cols,
            row_bytes,
        })
    }

    fn vector(&mut self, _info: &TensorInfo, values: Vec<f32>) -> Result<Vec<f32>, WeightError> {
        Ok(values)
    }
}

/// The CPU backend over the tensors of one model file.
pub struct CpuOps<'a> {
    pub source: &'a dyn TensorSource,
}

impl CpuOps<'_> {
    fn quant_error(m: &CpuMatrix) -> impl Fn(quant_formats::QuantError) -> ForwardError + '_ {
        move |source| ForwardError::Quant {
            tensor: m.info.name.clone(),
            source,
        }
    }
}

/// Rows of a matrix handed to one rayon task: enough work to amortise scheduling.
const MIN_ROWS_PER_TASK: usize = 16;

impl ForwardOps for CpuOps<'_> {
    type Matrix = CpuMatrix;
    type Vector = Vec<f32>;
    type Act = CpuAct;
    type KvCache = CpuKvCache;
    type Error = ForwardError;

    fn alloc(&mut self, rows: usize, cols: usize) -> Result<CpuAct, ForwardError> {
        Ok(CpuAct {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        })
    }

    fn embed(
        &mut self,
        table: &CpuMatrix,
        tokens: &[u32],
        out: &mut CpuAct,
    ) -> Result<(), ForwardError> {
        let bytes = self.source.tensor_bytes(&table.info);
        for (t, &token) in tokens.iter().enumerate() {
            let r = token as usize;
            if r >= table.rows {
                return Err(ForwardError::TokenOutOfRange {
                    token,
                    vocab: table.rows,
                });
            }
            let row = &bytes[r * table.row_bytes..(r + 1) * table.row_bytes];
            quant_formats::dequantize_row(
                table.info.ty,
                row,
                &mut out.data[t * out.cols..(t + 1) * out.cols],
            )
            .map_err(Self::quant_error(table))?;
        }
        Ok(())
    }

    fn rms_norm(
        &mut self,
        x: &CpuAct,
        weight: &Vec<f32>,
        eps: f32,
        out: &mut CpuAct,
    ) -> Result<(), ForwardError> {
        for (xr, or) in x
            .data
            .chunks_exact(x.cols)
            .zip(out.data.chunks_exact_mut(out.cols))
        {
            rms_norm_row(xr, weight, eps, or);
        }
        Ok(())
    }

    fn matmul(&mut self, w: &CpuMatrix, x: &CpuAct, out: &mut CpuAct) -> Result<(), ForwardError> {
        debug_assert_eq!((x.cols, out.cols, x.rows), (w.cols, w.rows, out.rows));
        let bytes = self.source.tensor_bytes(&w.info);
        let n = x.rows;
        // by_row[r * n + t] = w[r] · x[t]: each task dequantises its rows once for all tokens.
        let mut by_row = vec![0.0f32; w.rows * n];
        by_row
            .par_chunks_mut(n)
            .with_min_len(MIN_ROWS_PER_TASK)
            .zip(bytes.par_chunks(w.row_bytes))
            .try_for_each_init(
                || vec![0.0f32; w.cols],
                |row, (dots, stored)| {
                    quant_formats::dequantize_row(w.info.ty, stored, row)
                        .map_err(Self::quant_error(w))?;
                    for (t, d) in dots.iter_mut().enumerate() {
                        *d = dot(row, x.row(t));
                    }
                    Ok::<(), ForwardError>(())
                },
            )?;
        for (r, dots) in by_row.chunks_exact(n).enumerate() {
            for (t, &d) in dots.iter().enumerate() {
                out.data[t * out.cols + r] = d;
            }
        }
        Ok(())
    }

    fn add_bias(&mut self, x: &mut CpuAct, bias: &Vec<f32>) -> Result<(), ForwardError> {
        for row in x.data.chunks_exact_mut(x.cols) {
            row.iter_mut().zip(bias).for_each(|(a, b)| *a += b);
        }
        Ok(())
    }

    fn head_rms_norm(
        &mut self,
        x: &mut CpuAct,
        weight: &Vec<f32>,
        head_dim: usize,
        eps: f32,
    ) -> Result<(), ForwardError> {
        let mut normed = vec![0.0f32; head_dim];
        for head in x.data.chunks_exact_mut(head_dim) {
            rms_norm_row(head, weight, eps, &mut normed);
            head.copy_from_slice(&normed);
        }
        Ok(())
    }

    fn rope(
        &mut self,
        x: &mut CpuAct,
        rope: &RopeTable,
        start_pos: usize,
    ) -> Result<(), ForwardError> {
        for (t, row) in x.data.chunks_exact_mut(x.cols).enumerate() {
            for head in row.chunks_exact_mut(rope.head_dim) {
                rope.rotate(head, start_pos + t);
            }
        }
        Ok(())
    }

    fn attention(
        &mut self,
        shape: AttentionShape,
        q: &CpuAct,
        k: &CpuAct,
        v: &CpuAct,
        cache: &mut CpuKvCache,
        layer: usize,
        start_pos: usize,
        out: &mut CpuAct,
    ) -> Result<(), ForwardError> {
        let end = start_pos + q.rows;
        if end > cache.capacity() {
            return Err(ForwardError::ContextFull {
                end,
                capacity: cache.capacity(),
            });
        }
        for t in 0..q.rows {
            cache.store(layer, start_pos + t, k.row(t), v.row(t));
        }
        let AttentionShape {
            n_heads,
            n_kv_heads,
            head_dim,
        } = shape;
        let group = n_heads / n_kv_heads;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let cache = &*cache;
        // One task per (token, query head): out[t, h*d..(h+1)*d].
        out.data
            .par_chunks_mut(head_dim)
            .enumerate()
            .for_each(|(i, out_head)| {
                let (t, h) = (i / n_heads, i % n_heads);
                let len = start_pos + t + 1;
                let q_head = &q.row(t)[h * head_dim..(h + 1) * head_dim];
                let keys = cache.keys(layer, h / group, len);
                let values = cache.values(layer, h / group, len);
                let mut scores: Vec<f32> = keys
                    .chunks_exact(head_dim)
                    .map(|key| dot(q_head, key) * scale)
                    .collect();
                softmax_in_place(&mut scores);
                out_head.fill(0.0);
                for (p, value) in scores.iter().zip(values.chunks_exact(head_dim)) {
                    out_head
                        .iter_mut()
                        .zip(value)
                        .for_each(|(o, v)| *o += p * v);
                }
            });
        Ok(())
    }

    fn swiglu(&mut self, gate: &CpuAct, up: &CpuAct, out: &mut CpuAct) -> Result<(), ForwardError> {
        for ((o, &g), &u) in out.data.iter_mut().zip(&gate.data).zip(&up.data) {
            *o = g / (1.0 + (-g).exp()) * u;
        }
        Ok(())
    }

    fn add_assign(&mut self, x: &mut CpuAct, y: &CpuAct) -> Result<(), ForwardError> {
        x.data.iter_mut().zip(&y.data).for_each(|(a, b)| *a += b);
        Ok(())
    }
}

/// `out = x / sqrt(mean(x²) + eps) * weight`; the mean in f64 (Hugging Face's `LlamaRMSNorm`
/// computes it in f32; f64 only removes our own rounding from the comparison).
fn rms_norm_row(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean_sq = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64;
    let inv = (1.0 / (mean_sq + f64::from(eps)).sqrt()) as f32;
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * inv * w;
    }
}

/// Numerically stable softmax in place (max subtracted; sum in f64).
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// f32 dot product with eight independent accumulators (bounds the rounding error growth and
/// lets the compiler vectorise).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += ca[i] * cb[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}
