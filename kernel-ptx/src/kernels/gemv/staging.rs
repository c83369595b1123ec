//! The staged K loop: the block copies the next tile of each of its weight rows (`visits`
//! consecutive K iterations, `tile_blocks` weight blocks per row) from global memory into
//! shared memory with 16-byte `ld.global.nc.L1::no_allocate.v4` loads (consecutive threads,
//! consecutive 16-byte chunks: fully coalesced, every weight byte read once), then every thread
//! dots its weight blocks of the tile from shared memory with the format's `emit_weights` and `emit_dot`.
//! The loads of tile t + 1 are issued into registers before tile t's dots, so they are in flight
//! while the block computes.
//!
//! Thread `tid` visits the same weight blocks in the same order as the unstaged loop
//! (`kbx = tid / (qi/vdr) + i * blocks_per_iter`), so its partial sums and the kernel's results
//! are bit-identical to the unstaged body's.
//!
//! Needs every row to start 16-byte aligned (`w` and `row_bytes` multiples of 16, checked at
//! run time by the caller) and `tile_bytes` a multiple of 16 (checked by [`Tile::plan`]).
//! Shared layout: `[w_rows][tile_bytes]`.

use crate::builder::{Addr, Cmp, KernelBuilder, Reg, RegClass, Space, Ty};

/// Most 16-byte loads one thread keeps in flight per tile (over all its rows): 4 registers
/// each, live across the tile's dots.
const MAX_LOADS_PER_THREAD: u32 = 8;
/// Most K iterations one tile covers.
const MAX_VISITS: u32 = 8;
const CHUNK: u32 = 16;

/// One staging tile's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tile {
    /// K iterations (visits per thread) per tile.
    pub visits: u32,
    /// Weight blocks per row per tile: `visits * blocks_per_iter`.
    pub blocks: u32,
    /// Bytes per row per tile, a multiple of 16.
    pub bytes: u32,
    /// 16-byte loads per thread per row: `ceil(bytes / 16 / threads)`.
    pub loads: u32,
}

impl Tile {
    /// The largest tile (at most `MAX_VISITS` iterations, at most `MAX_LOADS_PER_THREAD`
    /// loads per thread over `w_rows` rows) whose per-row bytes are a multiple of 16; `None`
    /// when even the smallest such tile needs more loads.
    pub fn plan(block_bytes: u32, blocks_per_iter: u32, threads: u32, w_rows: u32) -> Option<Tile> {
        (1..=MAX_VISITS)
            .rev()
            .map(|visits| {
                let blocks = visits * blocks_per_iter;
                let bytes = blocks * block_bytes;
                Tile {
                    visits,
                    blocks,
                    bytes,
                    loads: (bytes / CHUNK).div_ceil(threads),
                }
            })
            .find(|t| t.bytes.is_multiple_of(CHUNK) && t.loads * w_rows <= MAX_LOADS_PER_THREAD)
    }
}

/// What the staged loop needs from the body.
pub(super) struct StagedLoop<'a> {
    pub tile: Tile,
    pub threads: u32,
    pub tid: Reg,
    /// Global u64 start of each weight row the block reads (matrix-major, as the body's).
    pub w_rows: &'a [Reg],
    pub row_bytes: Reg,
    pub blocks_per_row: Reg,
    pub blocks_per_iter: u32,
    pub block_bytes: u32,
    /// `tid / (qi / vdr)`: the thread's weight block inside one K iteration.
    pub block_in_iter: Reg,
}

impl StagedLoop<'_> {
    /// Emits the loop; `accumulate(b, kbx, w_blocks)` adds the dots of weight block `kbx`
    /// (row-major index inside a row), whose copies in shared memory start at `w_blocks[r]`
    /// (u64 shared-window addresses), to the accumulators.
    pub fn emit(
        &self,
        b: &mut KernelBuilder,
        accumulate: &mut dyn FnMut(&mut KernelBuilder, Reg, &[Reg]),
    ) {
        let tile = self.tile;
        let rows = self.w_rows.len() as u32;
        let stride = self.threads * CHUNK;
        let array = b.shared_array("w_tile", rows * tile.bytes, 16);
        let base = b.shared_base(&array);
        let tid16 = b.shl(Ty::U32, self.tid, 4u32);
        let store_base = b.add(Ty::U32, base, tid16);
        // The last load of a thread may lie past the tile's end.
        let chunks = tile.bytes / CHUNK;
        let in_tile: Vec<Option<Reg>> = (0..tile.loads)
            .map(|l| {
                ((l + 1) * self.threads > chunks)
                    .then(|| b.setp(Cmp::Lt, Ty::U32, self.tid, chunks - l * self.threads))
            })
            .collect();
        let staged: Vec<Vec<Vec<Reg>>> = (0..tile.loads)
            .map(|_| {
                (0..rows)
                    .map(|_| (0..4).map(|_| b.reg(RegClass::B32)).collect())
                    .collect()
            })
            .collect();

        let tile_offset = b.mov(Ty::U32, 0u32);
        let load_tile = |b: &mut KernelBuilder, tile_offset: Reg| {
            for (l, regs) in staged.iter().enumerate() {
                let off = b.add(Ty::U32, tile_offset, tid16);
                let off = b.add(Ty::U32, off, l as u32 * stride);
                let in_row = b.setp(Cmp::Lt, Ty::U32, off, self.row_bytes);
                let ok = match in_tile[l] {
                    None => in_row,
                    Some(t) => {
                        let ok = b.reg(RegClass::Pred);
                        b.inst(format!("and.pred {ok}, {in_row}, {t}"));
                        ok
                    }
                };
                let wide = b.cvt(Ty::U64, Ty::U32, None, off);
                for (r, words) in regs.iter().enumerate() {
                    let addr = b.add(Ty::U64, self.w_rows[r], wide);
                    b.predicated(ok, false, |b| {
                        b.inst(format!(
                            "ld{}.v4.b32 {{{}, {}, {}, {}}}, [{addr}]",
                            Space::GlobalNcNoAllocate.ptx(),
                            words[0],
                            words[1],
                            words[2],
                            words[3]
                        ))
                    });
                }
            }
        };
        load_tile(b, tile_offset);

        let kb0 = b.mov(Ty::U32, 0u32);
        let my_block = b.mul(Ty::U32, self.block_in_iter, self.block_bytes);
        let my_block = b.add(Ty::U32, base, my_block);
        let my_block = b.cvt(Ty::U64, Ty::U32, None, my_block);
        let top = b.label("tile");
        let tile_done = b.label("tile_done");
        b.place(&top);
        for (l, regs) in staged.iter().enumerate() {
            for (r, words) in regs.iter().enumerate() {
                let off = r as u32 * tile.bytes + l as u32 * stride;
                let store = |b: &mut KernelBuilder| {
                    b.st_vec(
                        Space::Shared,
                        Ty::B32,
                        Addr::reg_off(store_base, i64::from(off)),
                        words,
                    )
                };
                match in_tile[l] {
                    None => store(b),
                    Some(t) => b.predicated(t, false, store),
                }
            }
        }
        b.bar_sync(0);
        let next = b.add(Ty::U32, tile_offset, tile.bytes);
        b.mov_to(tile_offset, next);
        load_tile(b, tile_offset);
        for v in 0..tile.visits {
            let kbx = b.add(Ty::U32, kb0, v * self.blocks_per_iter);
            let kbx = b.add(Ty::U32, kbx, self.block_in_iter);
            let past_end = b.setp(Cmp::Ge, Ty::U32, kbx, self.blocks_per_row);
            b.bra_if(past_end, false, &tile_done);
            let w_blocks: Vec<Reg> = (0..rows)
                .map(|r| {
                    let off = r * tile.bytes + v * self.blocks_per_iter * self.block_bytes;
                    b.add(Ty::U64, my_block, u64::from(off))
                })
                .collect();
            accumulate(b, kbx, &w_blocks);
        }
        b.place(&tile_done);
        b.bar_sync(0);
        let next = b.add(Ty::U32, kb0, tile.blocks);
        b.mov_to(kb0, next);
        let more = b.setp(Cmp::Lt, Ty::U32, kb0, self.blocks_per_row);
        b.bra_if(more, false, &top);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_are_16_byte_multiples_within_the_load_budget() {
        // Q4_K, one warp, 4 blocks (576 B = 36 chunks) per iteration, 2 rows: 3 iterations
        // (108 chunks, 4 loads per row).
        let t = Tile::plan(144, 4, 32, 2).unwrap();
        assert_eq!((t.visits, t.bytes, t.loads), (3, 1728, 4));
        // Q6_K, 4 warps, 4 blocks of 210 B: 840 B is not a multiple of 16, 2 iterations are.
        let t = Tile::plan(210, 4, 128, 2).unwrap();
        assert!(t.visits.is_multiple_of(2) && t.bytes.is_multiple_of(16));
        assert!(t.loads * 2 <= MAX_LOADS_PER_THREAD);
        // Q8_0 (34 B blocks), 1 warp, 8 blocks per iteration, 4 rows of two matrices.
        let t = Tile::plan(34, 8, 32, 8).unwrap();
        assert_eq!(
            (t.bytes % 16, t.loads * 8 <= MAX_LOADS_PER_THREAD),
            (0, true)
        );
        // Q6_K, 1 warp, 1 block per iteration needs 8 iterations (105 chunks, 4 loads) per row:
        // 4 rows exceed the budget.
        assert_eq!(Tile::plan(210, 1, 32, 4), None);
    }
}
