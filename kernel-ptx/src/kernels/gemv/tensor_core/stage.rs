//! The shared-memory stages of the tensor-core body: each warp copies the 16 rows' blocks of
//! its next super-block visits (`stage_copy.rs`: whole 128-byte lines per warp request, unlike
//! the 8-byte fragment reads), so several visits are in flight without holding registers.
//!
//! Stage layout: `[matrix][row 16][stride]`, `stride` the block size padded so that the
//! fragment reads (lane `4g + t` reads 8 bytes at row `g`, byte `8t + …`) of a half-warp hit
//! 16 different bank pairs: `stride / 4 ≡ 8 or 24 (mod 32)`.

use super::TILE_ROWS;
use crate::kernels::gemv::stage_copy::{CHUNK, CopyShape};

/// Shared memory the stages of one block may take (the static limit is 48 KiB; the rest is
/// left to the cross-warp sum).
pub const SHARED_BYTES: u32 = 40 * 1024;
/// Most stages per warp (visits in flight: `stages - 1`).
const MAX_STAGES: u32 = 4;

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

    /// The copy of one super-block visit: the 16 rows' blocks of every matrix.
    pub fn copy_shape(&self) -> CopyShape {
        CopyShape {
            rows: TILE_ROWS,
            row_chunks: self.chunks_per_row,
            stride: self.stride,
            matrices: self.matrices,
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
