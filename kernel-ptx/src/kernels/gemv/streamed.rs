//! The dp4a body fed by bulk copies (sm_90). A persistent block of `warps` warps loops over
//! the row groups `ctaid, ctaid + grid, …` (`rows` rows each, rows past `n` read row `n - 1`
//! and are not stored); each group's rows pass through `stages` shared-memory stages, one
//! K-loop trip (`visits` visits of every weight row) per stage. Thread 0 keeps `stages` trips
//! requested ahead with one `cp.async.bulk` per row and trip, counted by one `mbarrier` per
//! stage, so the bytes in flight cost neither registers nor issue slots, and it requests the
//! first `stages` trips before `griddepcontrol.wait` (weights never depend on the previous
//! kernel).
//!
//! Each thread decodes the same slice of the same weight blocks in the same order as the
//! global-memory loop (`ThreadDots`), so results are bit-identical to the dp4a variant it was
//! made from. Rows that do not all start 16-byte aligned (`w` or `row_bytes` not a multiple of
//! 16) take the same loop reading global memory.
//!
//! Shared layout: `stages × [w_rows][trip_bytes]` weight bytes (matrix-major rows, as the
//! body's), then `stages` 8-byte barriers.

use super::format::WeightSource;
use super::thread_dots::ThreadDots;
use super::{Gemv, GemvArgs, Residency, WARP, begin_kernel, row_misalignment, store_rows};

use crate::builder::{Cmp, Kernel, KernelBuilder, Reg, RegClass, Special, Ty};

/// Most static shared memory one block may declare.
pub(super) const SHARED_BYTES: u32 = 48 * 1024;
/// Bytes of one stage barrier.
const BARRIER_BYTES: u32 = 8;

/// Bytes of one stage: a trip of every weight row of a block.
pub(super) fn stage_bytes(g: &Gemv, visits: u32) -> u32 {
    let matrices = if g.gate_up_swiglu { 2 } else { 1 };
    u32::from(g.rows) * matrices * trip_bytes(g, visits)
}

/// Bytes of one weight row's trip.
fn trip_bytes(g: &Gemv, visits: u32) -> u32 {
    visits * g.blocks_per_visit() * g.imp().block_bytes()
}

/// Why `g` cannot stream with `stages` stages of `visits` visits, if it cannot.
pub(super) fn unsupported(g: &Gemv, stages: u32, visits: u32) -> Option<String> {
    if !g.target.has_bulk_prefetch() {
        return Some(format!("bulk copies need sm_90, not {}", g.target.name()));
    }
    if !g.imp().stages_weights() {
        return Some(format!(
            "{} does not read weights from shared memory",
            g.format
        ));
    }
    if !(1..=8).contains(&stages) || !(1..=4).contains(&visits) {
        return Some(format!(
            "{stages} stages of {visits} visits: need 1..=8 of 1..=4"
        ));
    }
    if !trip_bytes(g, visits).is_multiple_of(16) {
        return Some(format!(
            "a trip of {} bytes is not a multiple of 16",
            trip_bytes(g, visits)
        ));
    }
    let shared = stages * (stage_bytes(g, visits) + BARRIER_BYTES);
    (shared > SHARED_BYTES).then(|| format!("{shared} bytes of stages exceed {SHARED_BYTES}"))
}

/// Where the group loop reads a trip's weights.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The stage the bulk copies filled.
    Stages,
    /// Global memory (rows not 16-byte aligned).
    Global,
}

pub(super) fn build(
    name: &str,
    g: &Gemv,
    stages: u32,
    visits: u32,
    residency: Residency,
) -> Kernel {
    let imp = g.imp();
    let (m, rows, warps) = (u32::from(g.m), u32::from(g.rows), u32::from(g.warps));
    let block_bytes = imp.block_bytes();
    let blocks_per_visit = g.blocks_per_visit();
    let trip_blocks = visits * blocks_per_visit;
    let trip_bytes = trip_bytes(g, visits);
    let stage_bytes = stage_bytes(g, visits);

    let (mut b, args) = begin_kernel(name, g, warps * WARP);
    b.min_blocks_per_sm(u32::from(residency.blocks_per_sm));
    let GemvArgs {
        weights,
        x,
        y,
        n,
        k,
    } = args;
    let w_rows = weights.len() as u32 * rows;

    let tid = b.mov(Ty::U32, Special::TidX);
    let ctaid = b.mov(Ty::U32, Special::CtaidX);
    let grid = b.mov(Ty::U32, Special::NctaidX);
    let blocks_per_row = b.shr(Ty::U32, k, imp.qk().trailing_zeros());
    let row_bytes = b.mul(Ty::U32, blocks_per_row, block_bytes);
    let last_row = b.sub(Ty::U32, n, 1u32);
    let dots = ThreadDots::new(&mut b, imp, x, k, m, tid, w_rows as usize);

    // The launch gives every block at least one group (grid ≤ groups).
    let trips = b.add(Ty::U32, blocks_per_row, trip_blocks - 1);
    let trips = b.div(Ty::U32, trips, trip_blocks);
    let groups = b.add(Ty::U32, n, rows - 1);
    let groups = b.div(Ty::U32, groups, rows);
    let my_groups = b.sub(Ty::U32, groups, ctaid);
    let my_groups = b.sub(Ty::U32, my_groups, 1u32);
    let my_groups = b.div(Ty::U32, my_groups, grid);
    let my_groups = b.add(Ty::U32, my_groups, 1u32);
    let total_trips = b.mul(Ty::U32, my_groups, trips);

    let low = row_misalignment(&mut b, &weights, row_bytes);
    let unaligned = b.setp(Cmp::Ne, Ty::U32, low, 0u32);
    let aligned = b.setp(Cmp::Eq, Ty::U32, low, 0u32);
    let is_thread0 = b.setp(Cmp::Eq, Ty::U32, tid, 0u32);
    let producer = b.reg(RegClass::Pred);
    b.inst(format!("and.pred {producer}, {is_thread0}, {aligned}"));

    let stage_array = b.shared_array("w_stages", stages * stage_bytes, 128);
    let barrier_array = b.shared_array("stage_full", stages * BARRIER_BYTES, 8);
    let stage_base = b.shared_base(&stage_array);
    let barrier_base = b.shared_base(&barrier_array);

    // The producer's next trip: group `ctaid + next_group * grid`, trip `next_trip`.
    let next_group = b.mov(Ty::U32, 0u32);
    let next_trip = b.mov(Ty::U32, 0u32);
    let issue = |b: &mut KernelBuilder, slot: Reg| {
        let group = b.mad_lo(Ty::U32, next_group, grid, ctaid);
        let first_row = b.mul(Ty::U32, group, rows);
        let offset = b.mul(Ty::U32, next_trip, trip_bytes);
        let left = b.sub(Ty::U32, row_bytes, offset);
        let bytes = b.min(Ty::U32, left, trip_bytes);
        let barrier = b.mad_lo(Ty::U32, slot, BARRIER_BYTES, barrier_base);
        let stage = b.mad_lo(Ty::U32, slot, stage_bytes, stage_base);
        let all_bytes = b.mul(Ty::U32, bytes, w_rows);
        b.mbarrier_arrive_expect_tx(barrier, all_bytes);
        for (mat, &w) in weights.iter().enumerate() {
            for i in 0..rows {
                let row = b.add(Ty::U32, first_row, i);
                let row = b.min(Ty::U32, row, last_row);
                let src = b.mad_wide(Ty::U32, row, row_bytes, w);
                let src = b.add_offset(src, offset);
                let r = mat as u32 * rows + i;
                let dst = b.add(Ty::U32, stage, r * trip_bytes);
                b.cp_async_bulk_to_shared(dst, src, bytes, barrier);
            }
        }
        let trip = b.add(Ty::U32, next_trip, 1u32);
        let group_done = b.setp(Cmp::Eq, Ty::U32, trip, trips);
        let group_step = b.selp(Ty::U32, 1u32, 0u32, group_done);
        let group = b.add(Ty::U32, next_group, group_step);
        let trip = b.selp(Ty::U32, 0u32, trip, group_done);
        b.mov_to(next_group, group);
        b.mov_to(next_trip, trip);
    };
    let sync = |b: &mut KernelBuilder| {
        if warps == 1 {
            b.bar_warp_sync();
        } else {
            b.bar_sync(0);
        }
    };

    // Barriers, then the first trips, before the grid dependency.
    let initialised = b.label("stages_initialised");
    b.bra_if(producer, true, &initialised);
    for s in 0..stages {
        let barrier = b.add(Ty::U32, barrier_base, s * BARRIER_BYTES);
        b.mbarrier_init(barrier, 1);
    }
    b.fence_mbarrier_init();
    b.place(&initialised);
    sync(&mut b);
    let requested = b.label("first_trips_requested");
    b.bra_if(producer, true, &requested);
    let slot = b.mov(Ty::U32, 0u32);
    let first_trips = b.label("first_trips");
    b.place(&first_trips);
    issue(&mut b, slot);
    let next_slot = b.add(Ty::U32, slot, 1u32);
    b.mov_to(slot, next_slot);
    let more = b.setp(Cmp::Lt, Ty::U32, slot, total_trips);
    let room = b.setp(Cmp::Lt, Ty::U32, slot, stages);
    let again = b.reg(RegClass::Pred);
    b.inst(format!("and.pred {again}, {more}, {room}"));
    b.bra_if(again, false, &first_trips);
    b.place(&requested);
    // ptxas schedules `griddepcontrol.wait` ahead of the instructions of its own basic block;
    // a never-taken branch (the launch rejects n = 0) ends the copies' block.
    let kernel_end = b.label("kernel_end");
    let no_rows = b.setp(Cmp::Eq, Ty::U32, n, 0u32);
    b.bra_if(no_rows, false, &kernel_end);
    b.griddep_wait();
    b.griddep_launch_dependents();

    let global_loop = b.label("global_loop");
    b.bra_if(unaligned, false, &global_loop);
    for source in [Source::Stages, Source::Global] {
        if source == Source::Global {
            b.place(&global_loop);
        }
        // The consumer's trip counter and the stage it reads, with the parity of the stage's
        // current phase.
        let trips_done = b.mov(Ty::U32, 0u32);
        let slot = b.mov(Ty::U32, 0u32);
        let phase = b.mov(Ty::U32, 0u32);
        let group_index = b.mov(Ty::U32, 0u32);
        let group_top = b.label("group");
        let group_done = b.label("group_done");
        b.place(&group_top);
        let group = b.mad_lo(Ty::U32, group_index, grid, ctaid);
        let row0 = b.mul(Ty::U32, group, rows);
        let w_row_starts: Vec<Reg> = weights
            .iter()
            .flat_map(|&w| (0..rows).map(move |i| (w, i)))
            .map(|(w, i)| {
                let row = b.add(Ty::U32, row0, i);
                let row = b.min(Ty::U32, row, last_row);
                b.mad_wide(Ty::U32, row, row_bytes, w)
            })
            .collect();
        dots.reset(&mut b);
        let trip = b.mov(Ty::U32, 0u32);
        let trip_top = b.label("trip");
        b.place(&trip_top);
        let stage = (source == Source::Stages).then(|| {
            let barrier = b.mad_lo(Ty::U32, slot, BARRIER_BYTES, barrier_base);
            b.mbarrier_wait_parity(barrier, phase);
            b.mad_lo(Ty::U32, slot, stage_bytes, stage_base)
        });
        let trip_first = b.mul(Ty::U32, trip, trip_blocks);
        for v in 0..visits {
            let in_trip = b.add(Ty::U32, dots.block_in_visit, v * blocks_per_visit);
            let kbx = b.add(Ty::U32, trip_first, in_trip);
            let past_row = b.setp(Cmp::Ge, Ty::U32, kbx, blocks_per_row);
            let visited = b.label("visited");
            b.bra_if(past_row, false, &visited);
            let w_blocks: Vec<Reg> = match stage {
                Some(stage) => (0..w_rows)
                    .map(|r| {
                        let at = b.mad_lo(Ty::U32, in_trip, block_bytes, stage);
                        let at = b.add(Ty::U32, at, r * trip_bytes);
                        b.cvt(Ty::U64, Ty::U32, None, at)
                    })
                    .collect(),
                None => w_row_starts
                    .iter()
                    .map(|&w_row| b.index_addr(w_row, kbx, block_bytes))
                    .collect(),
            };
            let src = match stage {
                Some(_) => WeightSource::Shared,
                None => WeightSource::Global,
            };
            let decoded = dots.decode(&mut b, &w_blocks, src);
            dots.add_dots(&mut b, kbx, &decoded);
            b.place(&visited);
        }
        if source == Source::Stages {
            // Every thread is done with the stage: refill it with the trip `stages` ahead.
            sync(&mut b);
            let refilled = b.label("refilled");
            let ahead = b.add(Ty::U32, trips_done, stages);
            let exists = b.setp(Cmp::Lt, Ty::U32, ahead, total_trips);
            let refill = b.reg(RegClass::Pred);
            b.inst(format!("and.pred {refill}, {exists}, {producer}"));
            b.bra_if(refill, true, &refilled);
            issue(&mut b, slot);
            b.place(&refilled);
            let done = b.add(Ty::U32, trips_done, 1u32);
            b.mov_to(trips_done, done);
            let next = b.add(Ty::U32, slot, 1u32);
            let wrapped = b.setp(Cmp::Eq, Ty::U32, next, stages);
            let next = b.selp(Ty::U32, 0u32, next, wrapped);
            b.mov_to(slot, next);
            let flipped = b.xor(Ty::B32, phase, 1u32);
            let next_phase = b.selp(Ty::U32, flipped, phase, wrapped);
            b.mov_to(phase, next_phase);
        }
        let next_trip = b.add(Ty::U32, trip, 1u32);
        b.mov_to(trip, next_trip);
        let more_trips = b.setp(Cmp::Lt, Ty::U32, trip, trips);
        b.bra_if(more_trips, false, &trip_top);
        store_rows(&mut b, g, &dots.acc, tid, y, n, row0, Some(&group_done));
        b.place(&group_done);
        let next_group = b.add(Ty::U32, group_index, 1u32);
        b.mov_to(group_index, next_group);
        let more_groups = b.setp(Cmp::Lt, Ty::U32, group_index, my_groups);
        b.bra_if(more_groups, false, &group_top);
        b.bra(&kernel_end);
    }
    b.place(&kernel_end);
    b.ret();
    b.finish()
}
