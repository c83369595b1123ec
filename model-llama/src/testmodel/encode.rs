//! Produces a tensor's rows in chunks, encodes them in the target type, and hands each chunk's
//! bytes to a sink, so that peak memory is one chunk whatever the tensor size.

use super::layout::{TensorDef, permuted_source_row};
use super::{MakeModelError, Progress};
use quant_formats::{GgmlType, quantize_row};
use rayon::prelude::*;

/// Elements generated per chunk (16 MiB of f32 before encoding).
const CHUNK_ELEMENTS: u64 = 1 << 22;

/// Row order of the written tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOrder {
    /// Hugging Face order.
    AsGenerated,
    /// llama.cpp's Q/K order (see [`permuted_source_row`]) when the tensor has one.
    GgufPermuted,
}

/// Writes row `row` (Hugging Face order) of tensor `def` into `out` (`def.row_len()` long): the
/// seeded random generator, or a checkpoint being converted.
pub type RowFill<'a> =
    dyn Fn(&TensorDef, u64, &mut [f32]) -> Result<(), MakeModelError> + Sync + 'a;

/// Streams tensor `def` as `ty` into `sink`, its rows from `fill`, reporting progress through
/// `progress`.
pub fn stream_tensor(
    def: &TensorDef,
    ty: GgmlType,
    order: RowOrder,
    fill: &RowFill,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), MakeModelError>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), MakeModelError> {
    let rows = def.rows();
    let row_len = def.row_len();
    let rows_per_chunk = (CHUNK_ELEMENTS / row_len).max(1);
    let permute_heads = match order {
        RowOrder::AsGenerated => None,
        RowOrder::GgufPermuted => def.gguf_permute_heads,
    };
    let mut first = 0;
    while first < rows {
        let last = (first + rows_per_chunk).min(rows);
        let encoded: Vec<Vec<u8>> = (first..last)
            .into_par_iter()
            .map(|row| {
                let source =
                    permute_heads.map_or(row, |heads| permuted_source_row(row, rows, heads));
                let mut values = vec![0f32; row_len as usize];
                fill(def, source, &mut values)?;
                quantize_row(ty, &values).map_err(|source| MakeModelError::Quantize {
                    name: def.gguf_name.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        sink(&encoded.concat())?;
        progress((last - first) * row_len);
        first = last;
    }
    Ok(())
}

/// Wraps a progress callback into a running total.
pub struct ProgressCounter<'a> {
    done: u64,
    total: u64,
    report: &'a dyn Fn(Progress),
}

impl<'a> ProgressCounter<'a> {
    pub fn new(total: u64, report: &'a dyn Fn(Progress)) -> Self {
        ProgressCounter {
            done: 0,
            total,
            report,
        }
    }

    pub fn add(&mut self, elements: u64) {
        self.done += elements;
        (self.report)(Progress {
            done: self.done,
            total: self.total,
        });
    }
}
