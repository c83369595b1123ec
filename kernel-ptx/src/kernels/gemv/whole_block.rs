//! Matrix × few-vectors where each lane dots whole super-blocks of one row, for the K-quants
//! of the tensor-core body (Q4_K, Q5_K), with that body's arithmetic: a column computed here
//! is bit-identical to the tensor-core body's with `slices` warps, so the two can serve
//! different M of one format without breaking batch invariance.
//!
//! A warp takes `32 / slices` rows; lane `slices * r + s` takes row `r` and super-blocks
//! `s, s + slices, …` (slice `s`). Step `t` of the warp covers super-blocks
//! `slices * t .. slices * (t + 1)` of its rows: copied into one of the warp's `stages`
//! shared-memory stages with 16-byte `cp.async` (`stage_copy.rs`, rows packed back to back,
//! so lane `(r, s)` finds its block at `(r * slices + s) * block_bytes`; the 16-byte reads of
//! the eight lanes of a quarter warp then hit distinct banks for 144- and 176-byte blocks),
//! while the lane decodes and dots the step before. Activations come from global memory (L1).
//!
//! Per row r, column c and super-block (the tensor-core body's MMQ order of terms, every
//! integer exact): `sumi_i` = Σ dp4a over sub-block `i`, `Σu_i` = Σ dp4a(1, u),
//! `sumf_d = Σ_i d8_i · f32(sc_i · sumi_i)`, `sumf_m = Σ_i (d8_i · f32(Σu_i)) · m_i` (first
//! term a product, then fused multiply-adds), `acc += d · sumf_d`, `acc += (−dmin) · sumf_m`.
//! The slices' accumulators are then added in slice order (`acc_0 + acc_1 + …`, shuffled to
//! lane `s = 0`), as the tensor-core body adds its warps' partials.
//!
//! Layouts as the other bodies: W `[n, k]` in blocks, 16-byte aligned; x planar Q8_1 (16-byte
//! aligned); y f32 `[m, n]`; rows past `n` read row `n − 1` and are not stored.
//!
//! Far fewer instructions per weight byte than the dp4a body at M = 1 (no per-thread header
//! decode of a block shared by eight threads, one header per lane and super-block), and every
//! step's copies in flight while the lane computes.

use super::format::{Q8_1_DS_BYTES, QK8_1, ds_d, q8_1_scale_plane};
use super::stage_copy::{CHUNK, CopyShape, StageCopy};
use super::tensor_core::{MmaFormat, RowFactors, mma_format_for};
use super::{Gemv, GemvArgs, Residency, WARP, begin_kernel, silu_times, store_output};
use crate::builder::{
    Addr, Cmp, Kernel, KernelBuilder, Operand, Reg, Round, Shfl, Space, Special, Ty,
};

/// Static shared memory one block's stages may take.
const SHARED_BYTES: u32 = 48 * 1024;
const ONES: u32 = 0x0101_0101;
/// Words of one sub-block's quants (32 bytes).
const SUB_WORDS: usize = 8;

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

/// Bytes of the cross-warp fold: f32 `[matrix][column][slice][row]` (none for one warp).
fn fold_bytes(g: &Gemv, slices: u32, matrices: u32) -> u32 {
    if g.warps() == 1 {
        0
    } else {
        matrices * u32::from(g.m()) * slices * u32::from(g.rows()) * 4
    }
}

/// Why `g`'s stages do not fit the static shared memory, if so.
pub(super) fn unsupported_geometry(g: &Gemv) -> Option<String> {
    let super::Body::WholeBlocks { slices, stages, .. } = g.body else {
        return None;
    };
    let imp = mma_format_for(g.format())?;
    let matrices = if g.is_gate_up_swiglu() { 2 } else { 1 };
    let (slices, warps) = (u32::from(slices), u32::from(g.warps()));
    let stage = copy_shape(imp, slices / warps, matrices).stage_bytes();
    let bytes = warps * u32::from(stages) * stage + fold_bytes(g, slices, matrices);
    (bytes > SHARED_BYTES).then(|| {
        format!(
            "{}: {warps} warps × {stages} stages of {stage} bytes and the fold exceed \
             {SHARED_BYTES} bytes of shared memory",
            g.format(),
        )
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
    let fold = (warps > 1).then(|| {
        let array = b.shared_array("fold", fold_bytes(g, slices, matrices), 16);
        WarpFold {
            base: b.shared_base(&array),
            slices,
            rows: rows_per_block,
        }
    });
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
        match &fold {
            None => {
                let my_row = b.add(Ty::U32, row0, lane_row);
                store_rows(&mut b, g, &acc, slices, slice, y, n, my_row);
            }
            Some(fold) => fold.store_rows(&mut b, g, &acc, slice, lane_row, tid, y, n, row0),
        }
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

/// Adds the slices' accumulators of each row in slice order (lane `s = 0` takes the partials
/// of lanes `1 .. slices` in turn) and stores row `my_row`'s results from that lane.
#[allow(clippy::too_many_arguments)]
fn store_rows(
    b: &mut KernelBuilder,
    g: &Gemv,
    acc: &[Vec<Reg>],
    slices: u32,
    slice: Reg,
    y: Reg,
    n: Reg,
    my_row: Reg,
) {
    let totals: Vec<Vec<Reg>> = acc
        .iter()
        .map(|per_column| {
            per_column
                .iter()
                .map(|&partial| {
                    let mut total = partial;
                    for l in 1..slices {
                        let other = b.shfl(Shfl::Down, partial, l);
                        total = b.add(Ty::F32, total, other);
                    }
                    total
                })
                .collect()
        })
        .collect();
    let first_slice = b.setp(Cmp::Eq, Ty::U32, slice, 0u32);
    for (c, &plain) in totals[0].iter().enumerate() {
        let total = if g.is_gate_up_swiglu() {
            silu_times(b, plain, totals[1][c])
        } else {
            plain
        };
        store_output(b, y, n, my_row, c as u32, first_slice, total);
    }
}

/// The cross-warp fold of a block whose warps hold different slices of the same rows:
/// f32 `[matrix][column][slice][row]` in shared memory.
struct WarpFold {
    base: Reg,
    slices: u32,
    rows: u32,
}

impl WarpFold {
    /// Every lane parks its partials at `[..][slice][lane_row]`; after a barrier, thread
    /// `tid < rows` adds row `tid`'s partials in slice order and stores row `row0 + tid`;
    /// a second barrier keeps the next fold's writes behind these reads.
    #[allow(clippy::too_many_arguments)]
    fn store_rows(
        &self,
        b: &mut KernelBuilder,
        g: &Gemv,
        acc: &[Vec<Reg>],
        slice: Reg,
        lane_row: Reg,
        tid: Reg,
        y: Reg,
        n: Reg,
        row0: Reg,
    ) {
        let plane = self.slices * self.rows * 4;
        let own = b.mad_lo(Ty::U32, slice, self.rows, lane_row);
        let own = b.mad_lo(Ty::U32, own, 4u32, self.base);
        for (i, &partial) in acc.iter().flatten().enumerate() {
            let addr = Addr::reg_off(own, i64::from(i as u32 * plane));
            b.st(Space::Shared, Ty::F32, addr, partial);
        }
        b.bar_sync(0);
        let reader = b.setp(Cmp::Lt, Ty::U32, tid, self.rows);
        let skip = b.label("not_folding");
        b.bra_if(reader, true, &skip);
        let row_slot = b.mad_lo(Ty::U32, tid, 4u32, self.base);
        let totals: Vec<Vec<Reg>> = acc
            .iter()
            .enumerate()
            .map(|(mat, per_column)| {
                (0..per_column.len())
                    .map(|c| {
                        let first = (mat * per_column.len() + c) as u32 * plane;
                        let mut total = None;
                        for s in 0..self.slices {
                            let offset = first + s * self.rows * 4;
                            let v = b.ld(
                                Space::Shared,
                                Ty::F32,
                                Addr::reg_off(row_slot, i64::from(offset)),
                            );
                            total = Some(match total {
                                None => v,
                                Some(t) => b.add(Ty::F32, t, v),
                            });
                        }
                        total.expect("slices > 0")
                    })
                    .collect()
            })
            .collect();
        let row = b.add(Ty::U32, row0, tid);
        for (c, &plain) in totals[0].iter().enumerate() {
            let total = if g.is_gate_up_swiglu() {
                silu_times(b, plain, totals[1][c])
            } else {
                plain
            };
            store_output(b, y, n, row, c as u32, reader, total);
        }
        b.place(&skip);
        b.bar_sync(0);
    }
}

/// One lane's super-block visit.
struct LaneWork<'a> {
    imp: &'a dyn MmaFormat,
    /// Per column: its quant plane row and `{d, s}` plane row (u64).
    columns: &'a [(Reg, Reg)],
    /// `[matrix][column]` f32 accumulators.
    acc: &'a [Vec<Reg>],
    ones: Reg,
}

impl LaneWork<'_> {
    /// Adds super-block `sb` of the lane's row of every matrix, whose copies start at the
    /// shared addresses `blocks` (u32, one per matrix), times every column.
    fn super_block(&self, b: &mut KernelBuilder, blocks: &[Reg], sb: Reg) {
        let imp = self.imp;
        let subs = imp.sub_blocks() as usize;
        let d8: Vec<Vec<Reg>> = self
            .columns
            .iter()
            .map(|&(_, scales)| {
                let base = b.index_addr(scales, sb, subs as u32 * Q8_1_DS_BYTES);
                (0..subs.div_ceil(4) as i64)
                    .flat_map(|c| {
                        b.ld_vec(Space::GlobalNc, Ty::B32, 4, Addr::reg_off(base, 16 * c))
                    })
                    .take(subs)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|word| ds_d(b, word))
                    .collect()
            })
            .collect();
        let quants: Vec<Reg> = self
            .columns
            .iter()
            .map(|&(quants, _)| b.index_addr(quants, sb, imp.qk()))
            .collect();
        let factors: Vec<RowFactors> = blocks
            .iter()
            .map(|&block| {
                let words = imp.load_factors(b, Space::Shared, block);
                imp.decode_factors(b, &words)
            })
            .collect();
        let high: Vec<Vec<Reg>> = blocks
            .iter()
            .map(|&block| imp.load_high_bits(b, Space::Shared, block))
            .collect();
        // sums[matrix][column] = (sumf_d, sumf_m) so far.
        let mut sums: Vec<Vec<Option<(Reg, Reg)>>> =
            vec![vec![None; self.columns.len()]; blocks.len()];
        for pair in 0..subs as u32 / 2 {
            let weights: Vec<[Vec<Reg>; 2]> = blocks
                .iter()
                .zip(&high)
                .map(|(&block, high)| imp.load_sub_block_pair(b, Space::Shared, block, pair, high))
                .collect();
            for (c, &column) in quants.iter().enumerate() {
                // Sub-blocks 2 pair and 2 pair + 1: 32 bytes each, two 16-byte loads.
                let u: Vec<Vec<Reg>> = (0..2i64)
                    .map(|h| {
                        let offset = (2 * i64::from(pair) + h) * i64::from(QK8_1);
                        (0..2i64)
                            .flat_map(|q| {
                                let addr = Addr::reg_off(column, offset + 16 * q);
                                b.ld_vec(Space::GlobalNc, Ty::B32, 4, addr)
                            })
                            .collect()
                    })
                    .collect();
                for (h, u) in u.iter().enumerate() {
                    let i = 2 * pair as usize + h;
                    let sum_u = dp4a_chain(b, &[self.ones; SUB_WORDS], u);
                    let sum_u = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sum_u);
                    let d8_sum_u = b.mul(Ty::F32, d8[c][i], sum_u);
                    for (mat, w) in weights.iter().enumerate() {
                        let row = &factors[mat];
                        let sumi = dp4a_chain(b, &w[h], u);
                        let scaled = b.mul(Ty::S32, row.scales[i], sumi);
                        let scaled = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), scaled);
                        sums[mat][c] = Some(match sums[mat][c] {
                            None => (
                                b.mul(Ty::F32, d8[c][i], scaled),
                                b.mul(Ty::F32, d8_sum_u, row.mins[i]),
                            ),
                            Some((d_part, m_part)) => (
                                b.fma(Ty::F32, d8[c][i], scaled, d_part),
                                b.fma(Ty::F32, d8_sum_u, row.mins[i], m_part),
                            ),
                        });
                    }
                }
            }
        }
        for (mat, per_column) in sums.iter().enumerate() {
            let row = &factors[mat];
            for (c, sum) in per_column.iter().enumerate() {
                let (d_part, m_part) = sum.expect("sub-blocks > 0");
                let acc = self.acc[mat][c];
                let t = b.fma(Ty::F32, row.d, d_part, acc);
                let t = b.fma(Ty::F32, row.neg_dmin, m_part, t);
                b.mov_to(acc, t);
            }
        }
    }
}

/// `Σ_w dp4a(a[w], u[w])` from 0 (exact in s32).
fn dp4a_chain(b: &mut KernelBuilder, a: &[Reg], u: &[Reg]) -> Reg {
    let mut sum = Operand::Int(0);
    for (&a, &u) in a.iter().zip(u) {
        sum = b.dp4a(a, u, sum).into();
    }
    match sum {
        Operand::Reg(r) => r,
        _ => unreachable!("at least one word"),
    }
}
