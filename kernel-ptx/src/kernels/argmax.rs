//! Greedy sampling: argmax over a large vocabulary in two stages. Ties go to the lowest index;
//! NaN never wins (as a `>`-scan from index 0 on the CPU).
//!
//! Stage 1 (`ArgmaxPartial`): block `(c, r)` scans elements `[c*CHUNK, (c+1)*CHUNK)` of row r
//! and writes its best `(value, index)` to `part_val/part_idx [rows, parts]`.
//! Stage 2 (`ArgmaxFinal`): one block per row reduces the `parts = ceil(n / CHUNK)` pairs and
//! writes `out[r]` (u32). Both stages take the same dims (`rows`, `n` = vocabulary size).

use crate::builder::{Addr, Cmp, Kernel, KernelBuilder, Reg, RegClass, Shfl, Space, Special, Ty};
use crate::kernel_type::div_ceil;
use crate::{LaunchDims, LaunchGeometry, Param, SmTarget};

const THREADS: u32 = 256;
const WARPS: u32 = THREADS / 32;
/// Elements per thread in stage 1.
const ITEMS: u32 = 16;
/// Elements per stage-1 block.
pub const CHUNK: u32 = THREADS * ITEMS;

pub const PARAMS_PARTIAL: &[Param; 4] = &[
    Param::ptr("logits"),
    Param::ptr("part_val"),
    Param::ptr("part_idx"),
    Param::u32("n"),
];

pub const PARAMS_FINAL: &[Param; 4] = &[
    Param::ptr("part_val"),
    Param::ptr("part_idx"),
    Param::ptr("out"),
    Param::u32("n"),
];

/// Number of stage-1 partial results per row (size of the scratch buffers).
pub fn parts(n: u32) -> u32 {
    div_ceil(n, CHUNK)
}

pub fn launch(dims: &LaunchDims, partial: bool) -> Result<LaunchGeometry, String> {
    if dims.rows == 0 || dims.n == 0 {
        return Err("rows and n must be positive".into());
    }
    if dims.rows.checked_mul(dims.n).is_none() {
        return Err("rows*n overflows u32".into());
    }
    let grid_x = if partial { parts(dims.n) } else { 1 };
    Ok(LaunchGeometry {
        grid: [grid_x, dims.rows, 1],
        block: [THREADS, 1, 1],
        dynamic_shared_bytes: 0,
    })
}

/// Keeps `(v, i)` or takes `(ov, oi)` when it is larger, or equal with a lower index.
fn take_better(b: &mut KernelBuilder, v: Reg, i: Reg, ov: Reg, oi: Reg) {
    let gt = b.setp(Cmp::Gt, Ty::F32, ov, v);
    let eq = b.setp(Cmp::Eq, Ty::F32, ov, v);
    let lower = b.setp(Cmp::Lt, Ty::U32, oi, i);
    let take = b.reg(RegClass::Pred);
    b.inst(format!("and.pred {take}, {eq}, {lower}"));
    b.inst(format!("or.pred {take}, {take}, {gt}"));
    let nv = b.selp(Ty::F32, ov, v, take);
    let ni = b.selp(Ty::U32, oi, i, take);
    b.mov_to(v, nv);
    b.mov_to(i, ni);
}

/// Block-wide argmax of each thread's `(v, i)`; thread 0 ends with the answer.
fn block_argmax(b: &mut KernelBuilder, v: Reg, i: Reg, tid: Reg) {
    for offset in [16u32, 8, 4, 2, 1] {
        let ov = b.shfl(Shfl::Bfly, v, offset);
        let oi = b.shfl(Shfl::Bfly, i, offset);
        take_better(b, v, i, ov, oi);
    }
    let vals = b.shared_array("warp_val", WARPS * 4, 16);
    let idxs = b.shared_array("warp_idx", WARPS * 4, 16);
    let vbase = b.shared_base(&vals);
    let ibase = b.shared_base(&idxs);
    let lane = b.and(Ty::U32, tid, 31u32);
    let warp = b.shr(Ty::U32, tid, 5u32);
    let voff = b.mad_lo(Ty::U32, warp, 4u32, vbase);
    let ioff = b.mad_lo(Ty::U32, warp, 4u32, ibase);
    let is_lane0 = b.setp(Cmp::Eq, Ty::U32, lane, 0u32);
    b.predicated(is_lane0, false, |b| {
        b.st(Space::Shared, Ty::F32, Addr::reg(voff), v);
        b.st(Space::Shared, Ty::U32, Addr::reg(ioff), i);
    });
    b.bar_sync(0);
    let v0 = b.ld(Space::Shared, Ty::F32, Addr::reg(vbase));
    let i0 = b.ld(Space::Shared, Ty::U32, Addr::reg(ibase));
    b.mov_to(v, v0);
    b.mov_to(i, i0);
    for w in 1..WARPS {
        let ov = b.ld(
            Space::Shared,
            Ty::F32,
            Addr::reg_off(vbase, i64::from(w) * 4),
        );
        let oi = b.ld(
            Space::Shared,
            Ty::U32,
            Addr::reg_off(ibase, i64::from(w) * 4),
        );
        take_better(b, v, i, ov, oi);
    }
}

pub fn build_partial(name: &str, target: SmTarget) -> Kernel {
    let (mut b, [logits, part_val, part_idx, n]) =
        KernelBuilder::entry(name, target, THREADS, PARAMS_PARTIAL);
    let tid = b.mov(Ty::U32, Special::TidX);
    let chunk = b.mov(Ty::U32, Special::CtaidX);
    let row = b.mov(Ty::U32, Special::CtaidY);
    let row_start = b.mul(Ty::U32, row, n);
    let row_ptr = b.index_addr(logits, row_start, 4);
    let first = b.mad_lo(Ty::U32, chunk, CHUNK, tid);
    let best_v = b.mov(Ty::F32, f32::NEG_INFINITY);
    let best_i = b.mov(Ty::U32, u32::MAX);
    // Loads first (independent), then the scan in index order.
    let loaded: Vec<(Reg, Reg, Reg)> = (0..ITEMS)
        .map(|j| {
            let idx = b.add(Ty::U32, first, j * THREADS);
            let valid = b.setp(Cmp::Lt, Ty::U32, idx, n);
            let v = b.mov(Ty::F32, f32::NEG_INFINITY);
            let addr = b.index_addr(row_ptr, idx, 4);
            b.predicated(valid, false, |b| {
                b.inst(format!("ld.global.nc.f32 {v}, [{addr}]"))
            });
            (idx, valid, v)
        })
        .collect();
    for (idx, valid, v) in loaded {
        // The first non-NaN element replaces "none" (so an all -inf row still gives an index).
        let none = b.setp(Cmp::Eq, Ty::U32, best_i, u32::MAX);
        let is_num = b.setp(Cmp::Num, Ty::F32, v, v);
        let gt = b.setp(Cmp::Gt, Ty::F32, v, best_v);
        let take = b.reg(RegClass::Pred);
        b.inst(format!("and.pred {take}, {none}, {is_num}"));
        b.inst(format!("or.pred {take}, {take}, {gt}"));
        b.inst(format!("and.pred {take}, {take}, {valid}"));
        let nv = b.selp(Ty::F32, v, best_v, take);
        let ni = b.selp(Ty::U32, idx, best_i, take);
        b.mov_to(best_v, nv);
        b.mov_to(best_i, ni);
    }
    block_argmax(&mut b, best_v, best_i, tid);
    let parts_per_row = b.add(Ty::U32, n, CHUNK - 1);
    let parts_per_row = b.div(Ty::U32, parts_per_row, CHUNK);
    let slot = b.mad_lo(Ty::U32, row, parts_per_row, chunk);
    let is_t0 = b.setp(Cmp::Eq, Ty::U32, tid, 0u32);
    let va = b.index_addr(part_val, slot, 4);
    let ia = b.index_addr(part_idx, slot, 4);
    b.predicated(is_t0, false, |b| {
        b.st(Space::Global, Ty::F32, Addr::reg(va), best_v);
        b.st(Space::Global, Ty::U32, Addr::reg(ia), best_i);
    });
    b.ret();
    b.finish()
}

pub fn build_final(name: &str, target: SmTarget) -> Kernel {
    let (mut b, [part_val, part_idx, out, n]) =
        KernelBuilder::entry(name, target, THREADS, PARAMS_FINAL);
    let tid = b.mov(Ty::U32, Special::TidX);
    let row = b.mov(Ty::U32, Special::CtaidY);
    let parts_per_row = b.add(Ty::U32, n, CHUNK - 1);
    let parts_per_row = b.div(Ty::U32, parts_per_row, CHUNK);
    let row_start = b.mul(Ty::U32, row, parts_per_row);
    let best_v = b.mov(Ty::F32, f32::NEG_INFINITY);
    let best_i = b.mov(Ty::U32, u32::MAX);
    crate::kernels::rms_norm::strided_loop(&mut b, tid, parts_per_row, "parts", |b, p| {
        let slot = b.add(Ty::U32, row_start, p);
        let va = b.index_addr(part_val, slot, 4);
        let ia = b.index_addr(part_idx, slot, 4);
        let v = b.ld(Space::Global, Ty::F32, Addr::reg(va));
        let i = b.ld(Space::Global, Ty::U32, Addr::reg(ia));
        take_better(b, best_v, best_i, v, i);
    });
    block_argmax(&mut b, best_v, best_i, tid);
    let is_t0 = b.setp(Cmp::Eq, Ty::U32, tid, 0u32);
    let oa = b.index_addr(out, row, 4);
    b.predicated(is_t0, false, |b| {
        b.st(Space::Global, Ty::U32, Addr::reg(oa), best_i)
    });
    b.ret();
    b.finish()
}
