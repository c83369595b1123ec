//! The dp4a body's per-thread dot products, shared by its K loops (global, staged through
//! shared memory, streamed by bulk copies): which slice of a weight block a thread reads,
//! each column's activation planes, and the f32 partial sums `[m][w_rows]` it adds a visit's
//! dots to. Every loop adds a partial sum's terms in `kbx` order, so a column's result does
//! not depend on the loop or on M.

use super::format::{
    ActBlock, Activations, GemvFormat, Q8_1_DS_BYTES, QK8_1, WeightSource, q8_1_scale_plane,
};
use crate::builder::{KernelBuilder, Reg, Ty};

pub(super) struct ThreadDots {
    imp: &'static dyn GemvFormat,
    /// Each column's first activation and `{ d, s }` pair (`Activations`).
    x_cols: Vec<ActBlock>,
    /// Bytes between the activations (and the scale pairs) of consecutive weight blocks.
    act_stride: u32,
    scale_stride: u32,
    /// The thread's first word inside its weight block (`iqs`).
    kqs: Reg,
    /// `tid / (qi / vdr)`: the thread's weight block inside one visit.
    pub block_in_visit: Reg,
    /// f32 partial sums, `[m][w_rows]`.
    pub acc: Vec<Vec<Reg>>,
}

impl ThreadDots {
    /// Emits the activation addresses of `m` columns of `x` (inner dimension `k`), the
    /// thread's slice of a block and `w_rows` zeroed partial sums per column.
    pub fn new(
        b: &mut KernelBuilder,
        imp: &'static dyn GemvFormat,
        x: Reg,
        k: Reg,
        m: u32,
        tid: Reg,
        w_rows: usize,
    ) -> Self {
        let qk = imp.qk();
        // Each column's activation planes: quants (or f32) at `x + j * k * elem`, Q8_1
        // `{ d, s }` pairs after all M columns' quants.
        let (elem_bytes, act_stride, scale_stride) = match imp.activations() {
            Activations::Q8_1Planes => (1, qk, qk / QK8_1 * Q8_1_DS_BYTES),
            Activations::F32 => (4, 4 * qk, 0),
        };
        let x_col_bytes = b.mul(Ty::U32, k, elem_bytes);
        let (scale_plane, x_col_scale_bytes) = q8_1_scale_plane(b, x, k, m);
        let x_cols = (0..m)
            .map(|j| {
                let quants = b.mad_wide(Ty::U32, x_col_bytes, j, x);
                let scales = match imp.activations() {
                    Activations::Q8_1Planes => {
                        b.mad_wide(Ty::U32, x_col_scale_bytes, j, scale_plane)
                    }
                    Activations::F32 => quants,
                };
                ActBlock { quants, scales }
            })
            .collect();
        let threads_per_block = imp.qi() / imp.vdr();
        let block_in_visit = b.shr(Ty::U32, tid, threads_per_block.trailing_zeros());
        let lane_in_block = b.and(Ty::U32, tid, threads_per_block - 1);
        let kqs = b.mul(Ty::U32, lane_in_block, imp.vdr());
        let acc = (0..m)
            .map(|_| (0..w_rows).map(|_| b.mov(Ty::F32, 0.0f32)).collect())
            .collect();
        ThreadDots {
            imp,
            x_cols,
            act_stride,
            scale_stride,
            kqs,
            block_in_visit,
            acc,
        }
    }

    /// Sets every partial sum back to zero.
    pub fn reset(&self, b: &mut KernelBuilder) {
        for &a in self.acc.iter().flatten() {
            b.mov_to(a, 0.0f32);
        }
    }

    /// The thread's decoded slice of each row's weight block at `w_blocks[r]` (global u64
    /// addresses, or 64-bit shared-window addresses for [`WeightSource::Shared`]).
    pub fn decode(
        &self,
        b: &mut KernelBuilder,
        w_blocks: &[Reg],
        src: WeightSource,
    ) -> Vec<Vec<Reg>> {
        w_blocks
            .iter()
            .map(|&w_block| self.imp.emit_weights(b, src, w_block, self.kqs))
            .collect()
    }

    /// Loads each column's activations of weight block `kbx` once and adds every (row,
    /// column) partial dot with the decoded `weights`, row-major.
    pub fn add_dots(&self, b: &mut KernelBuilder, kbx: Reg, weights: &[Vec<Reg>]) {
        for (j, col) in self.x_cols.iter().enumerate() {
            let x_block = ActBlock {
                quants: b.index_addr(col.quants, kbx, self.act_stride),
                scales: if self.scale_stride == 0 {
                    col.scales
                } else {
                    b.index_addr(col.scales, kbx, self.scale_stride)
                },
            };
            let x = self.imp.emit_activations(b, x_block, self.kqs);
            for (i, w) in weights.iter().enumerate() {
                let partial = self.imp.emit_dot(b, w, &x);
                let sum = b.add(Ty::F32, self.acc[j][i], partial);
                b.mov_to(self.acc[j][i], sum);
            }
        }
    }
}
