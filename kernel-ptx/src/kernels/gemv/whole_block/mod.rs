//! Matrix × few-vectors where each lane dots whole super-blocks of one row, for the K-quants
//! of the tensor-core body (Q4_K, Q5_K), with that body's arithmetic: a column computed here
//! is bit-identical to the tensor-core body's with `slices` warps, so the two could serve
//! different M of one format without breaking batch invariance.
//!
//! Each row's super-blocks are dealt out to `slices` slices (slice `s` takes super-blocks
//! `s, s + slices, …`), spread over the block's `warps` warps and `lane_slices = slices /
//! warps` lanes: lane `lane_slices * r + l` of warp `w` takes row `r` of the block's
//! `32 / lane_slices` rows and slice `s = w * lane_slices + l`. Step `t` covers super-blocks
//! `slices * t .. slices * (t + 1)`; the warp copies its part (`lane_slices` consecutive
//! blocks of each row) into one of its `stages` shared-memory stages with 16-byte `cp.async`
//! (`stage_copy.rs`, rows packed back to back, so the lane finds its block at
//! `lane * block_bytes`, and the 16-byte reads of a quarter warp hit distinct banks for
//! 144- and 176-byte blocks) while it decodes and dots an earlier step (`lane.rs`).
//! Activations come from global memory (L1). A block takes row groups `ctaid, ctaid +
//! nctaid, …` with its copies in flight across them; a persistent launch
//! ([`Gemv::persistent`]) starts only as many blocks as fit the device at once.
//!
//! Per row r, column c and super-block (the tensor-core body's MMQ order of terms, every
//! integer exact): `sumi_i` = Σ dp4a over sub-block `i`, `Σu_i` = Σ dp4a(1, u),
//! `sumf_d = Σ_i d8_i · f32(sc_i · sumi_i)`, `sumf_m = Σ_i (d8_i · f32(Σu_i)) · m_i` (first
//! term a product, then fused multiply-adds), `acc += d · sumf_d`, `acc += (−dmin) · sumf_m`.
//! The slices' accumulators are then added in slice order, `((acc_0 + acc_1) + acc_2) + …`,
//! as the tensor-core body adds its warps' partials (`fold.rs`).
//!
//! Layouts as the other bodies: W `[n, k]` in blocks, 16-byte aligned; x planar Q8_1 (16-byte
//! aligned); y f32 `[m, n]`; rows past `n` read row `n − 1` and are not stored.
//!
//! About a quarter fewer instructions than the dp4a body at M = 1 on the H200, but slower
//! there (12.8 µs against 10.6 at 14336×4096; docs/gemv-tuning.md v10), so not selected.

mod fold;
mod lane;

use super::format::q8_1_scale_plane;
use super::stage_copy::{CHUNK, CopyShape, StageCopy};
use super::tensor_core::{MmaFormat, mma_format_for};
use super::{Gemv, GemvArgs, Residency, WARP, begin_kernel};
use crate::builder::{Cmp, Kernel, KernelBuilder, Reg, Special, Ty};
use fold::{Output, SliceFold};
use lane::LaneWork;

/// Static shared memory one block's stages and fold may take.
pub(super) const SHARED_BYTES: u32 = 48 * 1024;
const ONES: u32 = 0x0101_0101;

/// The copy of one step of a warp: `32 / lane_slices` rows of `lane_slices` super-blocks.
fn copy_shape(imp: &dyn MmaFormat, lane_slices: u32, matrices: u32) -> CopyShape {
    let row_bytes = lane_slices * imp.block_bytes();
    CopyShape {
        rows: WARP / lane_slices,
        row_chunks: row_bytes / CHUNK,
        stride: row_bytes,
        matrices,
    }
}

/// Shared bytes of the fold (none for one warp).
fn fold_bytes(g: &Gemv, slices: u32, matrices: u32) -> u32 {
    if g.warps() == 1 {
        0
    } else {
        SliceFold::shared_bytes(slices, u32::from(g.rows()), matrices, u32::from(g.m()))
    }
}

/// Shared bytes of `g`'s stages and fold.
pub(super) fn shared_bytes_needed(g: &Gemv) -> u32 {
    let super::Body::WholeBlocks { slices, stages, .. } = g.body else {
        return 0;
    };
    let Some(imp) = mma_format_for(g.format()) else {
        return 0;
    };
    let matrices = if g.is_gate_up_swiglu() { 2 } else { 1 };
    let (slices, warps) = (u32::from(slices), u32::from(g.warps()));
    let stage = copy_shape(imp, slices / warps, matrices).stage_bytes();
    warps * u32::from(stages) * stage + fold_bytes(g, slices, matrices)
}

/// Why `g` does not fit the static shared memory, if so: its stages and fold, and those of
/// its fused variant with one stage (so [`Gemv::with_gate_up_swiglu`], which drops stages
/// until they fit, always gives a variant that builds).
pub(super) fn unsupported_geometry(g: &Gemv) -> Option<String> {
    let super::Body::WholeBlocks {
        slices, residency, ..
    } = g.body
    else {
        return None;
    };
    let fused_one_stage = Gemv {
        gate_up_swiglu: true,
        body: super::Body::WholeBlocks {
            slices,
            stages: 1,
            residency,
        },
        ..*g
    };
    [*g, fused_one_stage].into_iter().find_map(|v| {
        let bytes = shared_bytes_needed(&v);
        (bytes > SHARED_BYTES).then(|| {
            format!(
                "{}: {} warps need {bytes} bytes of shared memory for stages and fold{} \
                 (at most {SHARED_BYTES})",
                g.format(),
                g.warps(),
                if v.gate_up_swiglu {
                    " with two matrices"
                } else {
                    ""
                }
            )
        })
    })
}

pub(super) fn build(
    name: &str,
    g: &Gemv,
    slices: u32,
    stages: u32,
    residency: Option<Residency>,
) -> Kernel {
    let imp = mma_format_for(g.format()).expect("Gemv::whole_blocks admits only MMA formats");
    let (m, warps) = (u32::from(g.m()), u32::from(g.warps()));
    let (qk, block_bytes) = (imp.qk(), imp.block_bytes());
    let lane_slices = slices / warps;
    let rows_per_block = u32::from(g.rows());

    let (mut b, args) = begin_kernel(name, g, warps * WARP);
    if let Some(r) = residency {
        b.min_blocks_per_sm(u32::from(r.blocks_per_sm));
    }
    let GemvArgs {
        weights,
        x,
        y,
        n,
        k,
    } = args;
    let matrices = weights.len() as u32;
    let shape = copy_shape(imp, lane_slices, matrices);
    let stage_bytes = shape.stage_bytes();

    let tid = b.mov(Ty::U32, Special::TidX);
    let ctaid = b.mov(Ty::U32, Special::CtaidX);
    let nctaid = b.mov(Ty::U32, Special::NctaidX);
    let lane = b.and(Ty::U32, tid, WARP - 1);
    let warp = b.shr(Ty::U32, tid, WARP.trailing_zeros());
    let lane_slice = b.and(Ty::U32, lane, lane_slices - 1);
    let lane_row = b.shr(Ty::U32, lane, lane_slices.trailing_zeros());
    let slice = b.mad_lo(Ty::U32, warp, lane_slices, lane_slice);
    let groups = b.add(Ty::U32, n, rows_per_block - 1);
    let groups = b.div(Ty::U32, groups, rows_per_block);
    let blocks_per_row = b.shr(Ty::U32, k, qk.trailing_zeros());
    let row_bytes = b.mul(Ty::U32, blocks_per_row, block_bytes);
    let steps = b.add(Ty::U32, blocks_per_row, slices - 1);
    let steps = b.shr(Ty::U32, steps, slices.trailing_zeros());

    let smem = b.shared_array("w_stages", warps * stages * stage_bytes, 16);
    let fold = if warps == 1 {
        SliceFold::Lanes {
            slices,
            slice,
            lane_row,
        }
    } else {
        let array = b.shared_array("fold", fold_bytes(g, slices, matrices), 16);
        let base = b.shared_base(&array);
        let own = b.mad_lo(Ty::U32, slice, rows_per_block, lane_row);
        SliceFold::Warps {
            base,
            slices,
            rows: rows_per_block,
            own: b.mad_lo(Ty::U32, own, 4u32, base),
            tid,
        }
    };
    let out = Output {
        y,
        n,
        gate_up_swiglu: g.is_gate_up_swiglu(),
    };
    let smem_base = b.shared_base(&smem);
    let warp_base = b.mad_lo(Ty::U32, warp, stages * stage_bytes, smem_base);
    let copy = StageCopy::plan(&mut b, &shape, &weights, lane, n);
    // The lane's block inside a stage, per matrix.
    let lane_block = b.mul(Ty::U32, lane, block_bytes);
    let block_offsets: Vec<Reg> = (0..weights.len() as u32)
        .map(|mat| b.add(Ty::U32, lane_block, mat * WARP * block_bytes))
        .collect();

    // Column c's quants at x + c k, its `{d, s}` words at scale_plane + c (k / 32) 4.
    let (scale_plane, column_scale_bytes) = q8_1_scale_plane(&mut b, x, k, m);
    let columns: Vec<(Reg, Reg)> = (0..m)
        .map(|c| {
            (
                b.mad_wide(Ty::U32, k, c, x),
                b.mad_wide(Ty::U32, column_scale_bytes, c, scale_plane),
            )
        })
        .collect();
    // acc[matrix][column].
    let acc: Vec<Vec<Reg>> = weights
        .iter()
        .map(|_| (0..m).map(|_| b.mov(Ty::F32, 0.0f32)).collect())
        .collect();
    let lane_work = LaneWork {
        imp,
        columns: &columns,
        acc: &acc,
        ones: b.mov(Ty::B32, ONES),
    };

    b.griddep_wait();
    b.griddep_launch_dependents();

    // The block takes row groups ctaid, ctaid + nctaid, …; the warp's items are the steps of
    // its rows of each group in turn, read from stage (item % stages) while the copies of
    // the next `stages - 1` items are in flight, across group boundaries. Each iteration
    // first lets every lane finish reading the stage it is about to refill, issues the copy
    // of the item `stages - 1` ahead (nothing past the last group; the group is committed
    // anyway so the wait count holds), waits for this item's copies and syncs the warp so
    // all lanes' copies are visible.
    let ahead = stages - 1;
    let issue_cursor = Cursor::start(&mut b, ctaid);
    let issue = |b: &mut KernelBuilder, cursor: &Cursor, slot_base: Reg| {
        // The warp's part of step t is copy step `warps t + warp` (`lane_slices` blocks
        // each); past the last group, a step past the rows' end, which copies nothing.
        let row0 = b.mul(Ty::U32, cursor.group, rows_per_block);
        let past = b.setp(Cmp::Ge, Ty::U32, cursor.group, groups);
        let step = b.selp(Ty::U32, steps, cursor.step, past);
        let step = b.mad_lo(Ty::U32, step, warps, warp);
        copy.issue(b, slot_base, row0, step, row_bytes);
        b.cp_async_commit();
        cursor.advance(b, steps, nctaid);
    };
    for s in 0..ahead {
        let slot = b.add(Ty::U32, warp_base, s * stage_bytes);
        issue(&mut b, &issue_cursor, slot);
    }
    let cursor = Cursor::start(&mut b, ctaid);
    let slot = b.mov(Ty::U32, 0u32);
    let done = b.label("items_done");
    let top = b.label("item");
    let nothing = b.setp(Cmp::Ge, Ty::U32, cursor.group, groups);
    b.bra_if(nothing, false, &done);
    b.place(&top);
    {
        b.bar_warp_sync();
        let slot_ahead = b.add(Ty::U32, slot, ahead);
        let wrapped = b.setp(Cmp::Ge, Ty::U32, slot_ahead, stages);
        let unwrapped = b.sub(Ty::U32, slot_ahead, stages);
        let slot_ahead = b.selp(Ty::U32, unwrapped, slot_ahead, wrapped);
        let ahead_base = b.mad_lo(Ty::U32, slot_ahead, stage_bytes, warp_base);
        issue(&mut b, &issue_cursor, ahead_base);
        b.cp_async_wait(ahead);
        b.bar_warp_sync();

        let sb = b.mad_lo(Ty::U32, cursor.step, slices, slice);
        let past_end = b.setp(Cmp::Ge, Ty::U32, sb, blocks_per_row);
        let skip = b.label("no_block");
        b.bra_if(past_end, false, &skip);
        let stage_base = b.mad_lo(Ty::U32, slot, stage_bytes, warp_base);
        let blocks: Vec<Reg> = block_offsets
            .iter()
            .map(|&offset| b.add(Ty::U32, stage_base, offset))
            .collect();
        lane_work.super_block(&mut b, &blocks, sb);
        b.place(&skip);

        // After a group's last step: the rows' results, and fresh accumulators.
        let last_step = b.sub(Ty::U32, steps, 1u32);
        let more_steps = b.setp(Cmp::Ne, Ty::U32, cursor.step, last_step);
        let not_finished = b.label("group_open");
        b.bra_if(more_steps, false, &not_finished);
        let row0 = b.mul(Ty::U32, cursor.group, rows_per_block);
        fold.store(&mut b, &acc, &out, row0);
        for &a in acc.iter().flatten() {
            b.mov_to(a, 0.0f32);
        }
        b.place(&not_finished);

        cursor.advance(&mut b, steps, nctaid);
        let next_slot = b.add(Ty::U32, slot, 1u32);
        let wrapped = b.setp(Cmp::Eq, Ty::U32, next_slot, stages);
        let next_slot = b.selp(Ty::U32, 0u32, next_slot, wrapped);
        b.mov_to(slot, next_slot);
        let more = b.setp(Cmp::Lt, Ty::U32, cursor.group, groups);
        b.bra_if(more, false, &top);
    }
    b.place(&done);
    b.cp_async_wait(0);
    b.ret();
    b.finish()
}

/// A warp's position in its items: row group and step.
struct Cursor {
    group: Reg,
    step: Reg,
}

impl Cursor {
    fn start(b: &mut KernelBuilder, first_group: Reg) -> Self {
        Cursor {
            group: b.mov(Ty::U32, first_group),
            step: b.mov(Ty::U32, 0u32),
        }
    }

    /// The next item: the next step, or step 0 of the block's next group.
    fn advance(&self, b: &mut KernelBuilder, steps: Reg, group_stride: Reg) {
        let step = b.add(Ty::U32, self.step, 1u32);
        let wrapped = b.setp(Cmp::Eq, Ty::U32, step, steps);
        let next_group = b.add(Ty::U32, self.group, group_stride);
        let group = b.selp(Ty::U32, next_group, self.group, wrapped);
        let step = b.selp(Ty::U32, 0u32, step, wrapped);
        b.mov_to(self.group, group);
        b.mov_to(self.step, step);
    }
}
