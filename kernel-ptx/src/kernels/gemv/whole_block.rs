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
use super::{Gemv, GemvArgs, WARP, begin_kernel, silu_times, store_output};
use crate::builder::{
    Addr, Cmp, Kernel, KernelBuilder, Operand, Reg, Round, Shfl, Space, Special, Ty,
};

/// Static shared memory one block's stages may take.
const SHARED_BYTES: u32 = 48 * 1024;
const ONES: u32 = 0x0101_0101;
/// Words of one sub-block's quants (32 bytes).
const SUB_WORDS: usize = 8;

/// The copy of one step of a warp: `32 / slices` rows of `slices` super-blocks.
fn copy_shape(imp: &dyn MmaFormat, slices: u32, matrices: u32) -> CopyShape {
    let row_bytes = slices * imp.block_bytes();
    CopyShape {
        rows: WARP / slices,
        row_chunks: row_bytes / CHUNK,
        stride: row_bytes,
        matrices,
    }
}

/// Why `g`'s stages do not fit the static shared memory, if so.
pub(super) fn unsupported_geometry(g: &Gemv) -> Option<String> {
    let super::Body::WholeBlocks { slices, stages } = g.body else {
        return None;
    };
    let imp = mma_format_for(g.format())?;
    let matrices = if g.is_gate_up_swiglu() { 2 } else { 1 };
    let stage = copy_shape(imp, u32::from(slices), matrices).stage_bytes();
    let bytes = u32::from(g.warps()) * u32::from(stages) * stage;
    (bytes > SHARED_BYTES).then(|| {
        format!(
            "{}: {} warps × {stages} stages of {stage} bytes exceed {SHARED_BYTES} bytes of shared \
             memory",
            g.format(),
            g.warps()
        )
    })
}

pub(super) fn build(name: &str, g: &Gemv, slices: u32, stages: u32) -> Kernel {
    let imp = mma_format_for(g.format()).expect("Gemv::whole_blocks admits only MMA formats");
    let (m, warps) = (u32::from(g.m()), u32::from(g.warps()));
    let (qk, block_bytes) = (imp.qk(), imp.block_bytes());
    let rows_per_warp = WARP / slices;

    let (mut b, args) = begin_kernel(name, g, warps * WARP);
    let GemvArgs {
        weights,
        x,
        y,
        n,
        k,
    } = args;
    let shape = copy_shape(imp, slices, weights.len() as u32);
    let stage_bytes = shape.stage_bytes();

    let tid = b.mov(Ty::U32, Special::TidX);
    let ctaid = b.mov(Ty::U32, Special::CtaidX);
    let lane = b.and(Ty::U32, tid, WARP - 1);
    let warp = b.shr(Ty::U32, tid, WARP.trailing_zeros());
    let slice = b.and(Ty::U32, lane, slices - 1);
    let lane_row = b.shr(Ty::U32, lane, slices.trailing_zeros());
    let block_row0 = b.mul(Ty::U32, ctaid, u32::from(g.rows()));
    let warp_row0 = b.mad_lo(Ty::U32, warp, rows_per_warp, block_row0);
    let my_row = b.add(Ty::U32, warp_row0, lane_row);
    let blocks_per_row = b.shr(Ty::U32, k, qk.trailing_zeros());
    let row_bytes = b.mul(Ty::U32, blocks_per_row, block_bytes);
    let steps = b.add(Ty::U32, blocks_per_row, slices - 1);
    let steps = b.shr(Ty::U32, steps, slices.trailing_zeros());

    let smem = b.shared_array("w_stages", warps * stages * stage_bytes, 16);
    let smem_base = b.shared_base(&smem);
    let warp_base = b.mad_lo(Ty::U32, warp, stages * stage_bytes, smem_base);
    let copy = StageCopy::plan(&mut b, &shape, &weights, lane, warp_row0, n, row_bytes);
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

    // Step t reads stage t % stages; the copies of steps t + 1 .. t + stages - 1 are in flight
    // meanwhile. Each iteration first lets every lane finish reading the stage it is about to
    // refill (step t - 1's), issues step t + stages - 1's copies (nothing past the rows' end;
    // the group is committed anyway so the wait count holds), waits for step t's group and
    // syncs the warp so all lanes' copies are visible.
    let ahead = stages - 1;
    for s in 0..ahead {
        let slot = b.add(Ty::U32, warp_base, s * stage_bytes);
        let step = b.mov(Ty::U32, s);
        copy.issue(&mut b, slot, step, row_bytes);
        b.cp_async_commit();
    }
    let step = b.mov(Ty::U32, 0u32);
    let slot = b.mov(Ty::U32, 0u32);
    let done = b.label("steps_done");
    let top = b.label("step");
    let nothing = b.setp(Cmp::Ge, Ty::U32, step, steps);
    b.bra_if(nothing, false, &done);
    b.place(&top);
    {
        b.bar_warp_sync();
        let step_ahead = b.add(Ty::U32, step, ahead);
        let slot_ahead = b.add(Ty::U32, slot, ahead);
        let wrapped = b.setp(Cmp::Ge, Ty::U32, slot_ahead, stages);
        let unwrapped = b.sub(Ty::U32, slot_ahead, stages);
        let slot_ahead = b.selp(Ty::U32, unwrapped, slot_ahead, wrapped);
        let ahead_base = b.mad_lo(Ty::U32, slot_ahead, stage_bytes, warp_base);
        copy.issue(&mut b, ahead_base, step_ahead, row_bytes);
        b.cp_async_commit();
        b.cp_async_wait(ahead);
        b.bar_warp_sync();

        let sb = b.mad_lo(Ty::U32, step, slices, slice);
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

        let next = b.add(Ty::U32, step, 1u32);
        b.mov_to(step, next);
        let next_slot = b.add(Ty::U32, slot, 1u32);
        let wrapped = b.setp(Cmp::Eq, Ty::U32, next_slot, stages);
        let next_slot = b.selp(Ty::U32, 0u32, next_slot, wrapped);
        b.mov_to(slot, next_slot);
        let more = b.setp(Cmp::Lt, Ty::U32, step, steps);
        b.bra_if(more, false, &top);
    }
    b.place(&done);
    b.cp_async_wait(0);

    // Slice order: lane s = 0 of each row adds the partials of lanes 1 .. slices - 1 in turn.
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
    for c in 0..m as usize {
        let total = if g.is_gate_up_swiglu() {
            silu_times(&mut b, totals[0][c], totals[1][c])
        } else {
            totals[0][c]
        };
        store_output(&mut b, y, n, my_row, c as u32, first_slice, total);
    }
    b.ret();
    b.finish()
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
