//! The shared-memory stages of the tensor-core body: each warp copies the 16 rows' blocks of
//! its next super-block visits with 16-byte `cp.async.cg` copies (lane `l` takes chunks
//! `l, l + 32, …` of the stage, row-major: whole 128-byte lines per warp request, unlike the
//! 8-byte fragment reads), so several visits are in flight without holding registers.
//!
//! Stage layout: `[matrix][row 16][stride]`, `stride` the block size padded so that the
//! fragment reads (lane `4g + t` reads 8 bytes at row `g`, byte `8t + …`) of a half-warp hit
//! 16 different bank pairs: `stride / 4 ≡ 8 or 24 (mod 32)`.

use super::TILE_ROWS;
use crate::builder::{Cmp, KernelBuilder, Reg, RegClass, Ty};

/// Shared memory the stages of one block may take (the static limit is 48 KiB; the rest is
/// left to the cross-warp sum).
pub const SHARED_BYTES: u32 = 40 * 1024;
/// Most stages per warp (visits in flight: `stages - 1`).
const MAX_STAGES: u32 = 4;
const CHUNK: u32 = 16;

/// The stage geometry of one kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageLayout {
    /// Bytes from one row's block to the next in a stage.
    pub stride: u32,
    /// Bytes of one stage (every matrix's 16 rows).
    pub stage_bytes: u32,
    /// Stages per warp; 0 when even one does not fit.
    pub stages: u32,
    /// 16-byte chunks per row block.
    chunks_per_row: u32,
    matrices: u32,
}

impl StageLayout {
    pub fn new(block_bytes: u32, matrices: u32, warps: u32) -> Self {
        let stride = (block_bytes.div_ceil(CHUNK)..)
            .map(|c| c * CHUNK)
            .find(|s| matches!((s / 4) % 32, 8 | 24))
            .expect("some multiple of 16 qualifies");
        let stage_bytes = matrices * TILE_ROWS * stride;
        StageLayout {
            stride,
            stage_bytes,
            stages: (SHARED_BYTES / (warps * stage_bytes)).min(MAX_STAGES),
            chunks_per_row: block_bytes / CHUNK,
            matrices,
        }
    }

    /// Shared bytes of one warp's stages.
    pub fn warp_bytes(&self) -> u32 {
        self.stages * self.stage_bytes
    }

    fn chunks(&self) -> u32 {
        self.matrices * TILE_ROWS * self.chunks_per_row
    }
}

/// One lane's chunks of a stage, with their addresses less the super-block offset.
pub struct StageCopy {
    /// Per chunk: the global address of its bytes in super-block 0 (u64).
    sources: Vec<Reg>,
    /// Per chunk: its byte offset inside a stage (u32).
    offsets: Vec<Reg>,
    /// Per chunk: whether the lane has it (only the last may be partial).
    present: Vec<Option<Reg>>,
    block_bytes: u32,
}

impl StageCopy {
    /// The chunks of lane `lane` for the tile starting at row `row0` of `weights` (rows past
    /// `n` copy row `n - 1`).
    pub fn plan(
        b: &mut KernelBuilder,
        layout: &StageLayout,
        weights: &[Reg],
        lane: Reg,
        row0: Reg,
        n: Reg,
        row_bytes: Reg,
    ) -> Self {
        let total = layout.chunks();
        let per_matrix = TILE_ROWS * layout.chunks_per_row;
        let last_row = b.sub(Ty::U32, n, 1u32);
        let (mut sources, mut offsets, mut present) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..total.div_ceil(32) {
            let chunk = b.add(Ty::U32, lane, 32 * i);
            present.push((32 * (i + 1) > total).then(|| b.setp(Cmp::Lt, Ty::U32, chunk, total)));
            let chunk = b.min(Ty::U32, chunk, total - 1);
            let matrix = b.div(Ty::U32, chunk, per_matrix);
            let in_matrix = b.rem(Ty::U32, chunk, per_matrix);
            let row = b.div(Ty::U32, in_matrix, layout.chunks_per_row);
            let column = b.rem(Ty::U32, in_matrix, layout.chunks_per_row);
            let w = match weights {
                [w] => *w,
                [gate, up] => {
                    let is_up = b.setp(Cmp::Eq, Ty::U32, matrix, 1u32);
                    b.selp(Ty::U64, *up, *gate, is_up)
                }
                _ => unreachable!("one or two weight matrices"),
            };
            let global_row = b.add(Ty::U32, row0, row);
            let global_row = b.min(Ty::U32, global_row, last_row);
            let row_start = b.mad_wide(Ty::U32, global_row, row_bytes, w);
            let column_bytes = b.mul(Ty::U32, column, CHUNK);
            sources.push(b.add_offset(row_start, column_bytes));
            let stage_row = b.mad_lo(Ty::U32, matrix, TILE_ROWS, row);
            offsets.push(b.mad_lo(Ty::U32, stage_row, layout.stride, column_bytes));
        }
        StageCopy {
            sources,
            offsets,
            present,
            block_bytes: layout.chunks_per_row * CHUNK,
        }
    }

    /// Copies super-block `sb` of the tile's rows into the stage at shared `stage_base`, if
    /// `sb < blocks_per_row` (no group is committed here).
    pub fn issue(&self, b: &mut KernelBuilder, stage_base: Reg, sb: Reg, blocks_per_row: Reg) {
        let in_row = b.setp(Cmp::Lt, Ty::U32, sb, blocks_per_row);
        for ((&source, &offset), present) in
            self.sources.iter().zip(&self.offsets).zip(&self.present)
        {
            let src = b.mad_wide(Ty::U32, sb, self.block_bytes, source);
            let dst = b.add(Ty::U32, stage_base, offset);
            let go = match present {
                Some(p) => {
                    let go = b.reg(RegClass::Pred);
                    b.inst(format!("and.pred {go}, {in_row}, {p}"));
                    go
                }
                None => in_row,
            };
            b.predicated(go, false, |b| b.cp_async_16(dst, src));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_avoid_bank_conflicts_and_stages_fit() {
        let q4_k = StageLayout::new(144, 1, 4);
        assert_eq!((q4_k.stride, q4_k.stage_bytes, q4_k.stages), (160, 2560, 4));
        let q5_k = StageLayout::new(176, 1, 4);
        assert_eq!((q5_k.stride, q5_k.stages), (224, 2));
        assert_eq!(StageLayout::new(144, 2, 8).stages, 1);
        assert_eq!(StageLayout::new(176, 2, 8).stages, 0);
        for layout in [q4_k, q5_k] {
            assert!(layout.warp_bytes() * 4 <= SHARED_BYTES);
        }
    }
}
