//! One warp's asynchronous copy of a rectangle of weight rows into a shared-memory stage, for
//! the bodies that stream weights through per-warp stages (`tensor_core`, `whole_block`).
//!
//! A step covers `row_chunks` 16-byte chunks of each of `rows` consecutive rows of every
//! weight matrix, starting `step * step_bytes` bytes into the rows. Lane `l` copies chunks
//! `l, l + 32, …` of the step in row-major order (so a warp request covers whole 128-byte
//! lines) with `cp.async.cg` (16 bytes, through L2 only), so several steps can be in flight
//! without holding registers. Stage layout: `[matrix][row][stride]`. Chunks past a row's end
//! are not copied; rows past `n` copy row `n - 1`.

use crate::builder::{Cmp, KernelBuilder, Reg, RegClass, Ty};

/// Bytes per copy.
pub const CHUNK: u32 = 16;

/// The rectangle one step copies and where it lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyShape {
    /// Rows per matrix.
    pub rows: u32,
    /// 16-byte chunks per row per step.
    pub row_chunks: u32,
    /// Bytes from one row to the next in a stage (a multiple of 16, ≥ `16 * row_chunks`).
    pub stride: u32,
    /// Weight matrices (1, or 2 for gate and up).
    pub matrices: u32,
}

impl CopyShape {
    /// Chunks of one step.
    pub fn chunks(&self) -> u32 {
        self.matrices * self.rows * self.row_chunks
    }

    /// Bytes of one stage.
    pub fn stage_bytes(&self) -> u32 {
        self.matrices * self.rows * self.stride
    }

    /// Bytes a step advances along the rows.
    pub fn step_bytes(&self) -> u32 {
        self.row_chunks * CHUNK
    }
}

/// One lane's chunks of a step: where each comes from relative to the rows' start, and where
/// it lands.
pub struct StageCopy {
    chunks: Vec<Chunk>,
    /// Where the chunks land inside a stage.
    offsets: StageOffsets,
    weights: Vec<Reg>,
    last_row: Reg,
    step_bytes: u32,
}

/// One chunk of a lane.
struct Chunk {
    /// Its row among the step's rows of its matrix (u32).
    row: Reg,
    /// Its byte offset inside the row in step 0 (u32).
    column: Reg,
    /// True when it belongs to the second matrix (two matrices only).
    second_matrix: Option<Reg>,
    /// Whether the lane has it (only the last may be partial).
    present: Option<Reg>,
}

/// Where a lane's chunks land inside a stage.
enum StageOffsets {
    /// Rows packed back to back (`stride` = step bytes): chunk `c` lands at `16c`, so the
    /// lane's `i`-th at `16 lane + 512 i` (the lane's `16 lane` held).
    Packed(Reg),
    /// Per chunk, its offset (rows padded to `stride`).
    Padded(Vec<Reg>),
}

impl StageCopy {
    /// The chunks of lane `lane` for steps of `shape` over `weights` (u64 bases, `[n, k]`
    /// rows of `row_bytes`; rows past `n` copy row `n - 1`).
    pub fn plan(
        b: &mut KernelBuilder,
        shape: &CopyShape,
        weights: &[Reg],
        lane: Reg,
        n: Reg,
    ) -> Self {
        assert!(matches!(weights.len(), 1 | 2), "one or two weight matrices");
        let total = shape.chunks();
        let per_matrix = shape.rows * shape.row_chunks;
        let packed = shape.stride == shape.step_bytes();
        let mut copy = StageCopy {
            chunks: Vec::new(),
            offsets: if packed {
                StageOffsets::Packed(b.mul(Ty::U32, lane, CHUNK))
            } else {
                StageOffsets::Padded(Vec::new())
            },
            weights: weights.to_vec(),
            last_row: b.sub(Ty::U32, n, 1u32),
            step_bytes: shape.step_bytes(),
        };
        for i in 0..total.div_ceil(32) {
            let chunk = b.add(Ty::U32, lane, 32 * i);
            let present = (32 * (i + 1) > total).then(|| b.setp(Cmp::Lt, Ty::U32, chunk, total));
            let chunk = b.min(Ty::U32, chunk, total - 1);
            let matrix = b.div(Ty::U32, chunk, per_matrix);
            let in_matrix = b.rem(Ty::U32, chunk, per_matrix);
            let row = b.div(Ty::U32, in_matrix, shape.row_chunks);
            let column = b.rem(Ty::U32, in_matrix, shape.row_chunks);
            let column = b.mul(Ty::U32, column, CHUNK);
            if let StageOffsets::Padded(offsets) = &mut copy.offsets {
                let stage_row = b.mad_lo(Ty::U32, matrix, shape.rows, row);
                offsets.push(b.mad_lo(Ty::U32, stage_row, shape.stride, column));
            }
            copy.chunks.push(Chunk {
                row,
                column,
                second_matrix: (weights.len() == 2).then(|| b.setp(Cmp::Eq, Ty::U32, matrix, 1u32)),
                present,
            });
        }
        copy
    }

    /// Copies step `step` of the rows starting at row `row0` into the stage at shared
    /// `stage_base`: every chunk that lies inside its row (`row_bytes` long), so a step past
    /// the rows' end copies nothing; no group is committed here.
    pub fn issue(
        &self,
        b: &mut KernelBuilder,
        stage_base: Reg,
        row0: Reg,
        step: Reg,
        row_bytes: Reg,
    ) {
        let step_offset = b.mul(Ty::U32, step, self.step_bytes);
        for (i, chunk) in self.chunks.iter().enumerate() {
            let in_row = b.add(Ty::U32, step_offset, chunk.column);
            let go = b.setp(Cmp::Lt, Ty::U32, in_row, row_bytes);
            let row = b.add(Ty::U32, row0, chunk.row);
            let row = b.min(Ty::U32, row, self.last_row);
            let w = match chunk.second_matrix {
                Some(up) => b.selp(Ty::U64, self.weights[1], self.weights[0], up),
                None => self.weights[0],
            };
            let row_start = b.mad_wide(Ty::U32, row, row_bytes, w);
            let src = b.add_offset(row_start, in_row);
            let dst = match &self.offsets {
                StageOffsets::Packed(lane_bytes) => {
                    let dst = b.add(Ty::U32, stage_base, *lane_bytes);
                    b.add(Ty::U32, dst, 32 * CHUNK * i as u32)
                }
                StageOffsets::Padded(offsets) => b.add(Ty::U32, stage_base, offsets[i]),
            };
            let go = match chunk.present {
                Some(p) => {
                    let both = b.reg(RegClass::Pred);
                    b.inst(format!("and.pred {both}, {go}, {p}"));
                    both
                }
                None => go,
            };
            b.predicated(go, false, |b| b.cp_async_16(dst, src));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_counts_chunks_and_bytes() {
        // Q4_K whole blocks: 4 rows of 8 super-blocks (72 chunks each), gate and up.
        let shape = CopyShape {
            rows: 4,
            row_chunks: 72,
            stride: 1152,
            matrices: 2,
        };
        assert_eq!(
            (shape.chunks(), shape.stage_bytes(), shape.step_bytes()),
            (576, 9216, 1152)
        );
    }
}
