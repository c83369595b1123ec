//! Matrix × few-vectors on the tensor cores, for super-block K-quants with per-sub-block
//! integer scales and mins (Q4_K, Q5_K): every 32-element sub-block of 16 weight rows meets the
//! (up to) 8 activation columns in one `mma.sync.m16n8k32.s8`, the way ggml-cuda's MMQ
//! (ggml/src/ggml-cuda/mmq.cuh, `vec_dot_q4_K_q8_1_impl_mmq`) handles batches, so the work per
//! weight byte barely grows with M.
//!
//! A block's `warps` warps share one tile of 16 rows; warp `w` takes super-blocks
//! `w, w + warps, …` of those rows and the warps' partials are added in warp order through
//! shared memory. Each warp streams its super-blocks of the 16 rows through a few shared-memory
//! stages with 16-byte `cp.async` copies (`stage.rs`: whole lines per request, several visits
//! in flight without holding registers) and reads its mma fragments from there (`visit.rs`).
//! Lane `4g + t` (`g` the mma group, `t` the thread in the group) owns rows `g`, `g + 8` of the
//! tile and columns `2t`, `2t + 1` of the mma result, and feeds the mma elements `8t .. 8t + 8`
//! of every sub-block: the k order inside a sub-block is permuted the same way for A and B
//! (slot `4t + j` ↔ element `8t + j`, slot `16 + 4t + j` ↔ element `8t + 4 + j`), so a thread's
//! weights are one 8-byte shared read per row and nibble pair and its activations (column `g`)
//! one 8-byte global read per sub-block.
//!
//! Which lanes finish which (row, column) results depends on M (never the arithmetic): with
//! `Mp` = M rounded up to a power of two, mma column `n` carries activation column
//! `cmap(n)` = `(n >> 1) & 1` (Mp ≤ 2), `n & 3` (Mp = 4) or `n` (Mp = 8), clamped to M − 1, so
//! at small M the four lanes of a group hold copies of few columns and each lane finishes only
//! `chains` = 1, 2 or 4 results: lane `t` takes row `g + 8 (t >> 1)` and columns
//! `cmap(2t + j)` for Mp ≤ 4 (decoding the scales of that one row), both rows for Mp = 8.
//!
//! Per row r, column c and super-block (MMQ's order of terms): `sumi_i` exact in s32,
//! `sumf_d = Σ_i d8_i · f32(sc_i · sumi_i)`, `sumf_m = Σ_i (d8_i · Σu_i) · m_i`, then
//! `acc += d · sumf_d` and `acc += (−dmin) · sumf_m`. `Σu_i` comes exact from one more mma
//! with an all-ones A, as ggml's dp4a `vec_dot_q4_K_q8_1` sums the bytes (MMQ uses the Q8_1
//! block's f16 `s`, which moved results by ~7e-4 relative on the emulator cases).
//! An output's arithmetic depends on its row, column and `warps` only: columns ≥ M read
//! column M − 1 and are never stored, so results are batch-invariant.
//!
//! Layouts as the dp4a body: W `[n, k]` in blocks, 16-byte aligned; x planar Q8_1 (16-byte
//! aligned); y f32 `[m, n]`; rows past `n` read row `n − 1` and are not stored.
//!
//! Faster than the dp4a body from M = 4 on the H200 but slower at M = 1, so `select_matvec`
//! does not pick it (`select_tensor_core_matvec` does; docs/gemv-tuning.md v9).

mod columns;
mod stage;
mod visit;

use super::format::{QK8_1, q8_1_scale_plane};
use super::formats::q4_k;
use super::stage_copy::StageCopy;
use super::{Gemv, GemvArgs, WARP, begin_kernel, combine_warps, silu_times, store_output};
use crate::builder::{Cmp, Kernel, KernelBuilder, Reg, Space, Special, Ty};
use columns::{ColumnPlan, Half};
use quant_formats::GgmlType;
use stage::StageLayout;
use visit::{FragmentSource, Visit};

/// Weight rows per tile: the mma's M.
pub const TILE_ROWS: u32 = 16;
/// Activation columns per mma: its N.
pub(super) const MMA_COLS: u32 = 8;
// Every column of a launch has its own mma column.
const _: () = assert!(super::MAX_M as u32 <= MMA_COLS);
/// Sub-block elements one thread feeds per mma.
const ELEMS_PER_THREAD: u32 = 8;

/// A row's per-super-block factors, decoded for the epilogue.
pub struct RowFactors {
    /// Per sub-block integer scale (u32).
    pub scales: Vec<Reg>,
    /// Per sub-block min, as f32.
    pub mins: Vec<Reg>,
    /// The super-block's `d` as f32.
    pub d: Reg,
    /// The super-block's `−dmin` as f32.
    pub neg_dmin: Reg,
}

/// A weight format the tensor-core body can stream.
pub trait MmaFormat: Sync {
    fn ty(&self) -> GgmlType;

    /// Elements per super-block.
    fn qk(&self) -> u32 {
        self.ty().block_elems() as u32
    }

    /// Bytes per super-block (a multiple of 16).
    fn block_bytes(&self) -> u32 {
        self.ty().block_bytes() as u32
    }

    /// 32-element sub-blocks per super-block.
    fn sub_blocks(&self) -> u32 {
        self.qk() / QK8_1
    }

    /// Loads the thread's raw quant words of one super-block in `space`, `w_thread` being the
    /// block's address plus `8t`: the words holding elements `8t .. 8t + 8` of every sub-block.
    fn load_quants(&self, b: &mut KernelBuilder, space: Space, w_thread: Reg) -> Vec<Reg>;

    /// Per sub-block, the thread's two A words from [`MmaFormat::load_quants`]' words: elements
    /// `8t .. 8t + 4` and `8t + 4 .. 8t + 8` as unsigned bytes below 128 (so they read the same
    /// as s8).
    fn decode_quants(&self, b: &mut KernelBuilder, words: &[Reg]) -> Vec<[Reg; 2]>;

    /// Loads the high-bit words of the whole super-block at `w_block` in `space` for
    /// [`MmaFormat::load_sub_block_pair`]: Q5_K's eight `qh` words, none for Q4_K.
    fn load_high_bits(&self, b: &mut KernelBuilder, space: Space, w_block: Reg) -> Vec<Reg>;

    /// Sub-blocks `2j` and `2j + 1` of the whole super-block at `w_block` in `space` (the
    /// whole-block body's decode): eight words each, word `w` holding elements `4w .. 4w + 4`
    /// as unsigned bytes below 128.
    fn load_sub_block_pair(
        &self,
        b: &mut KernelBuilder,
        space: Space,
        w_block: Reg,
        j: u32,
        high: &[Reg],
    ) -> [Vec<Reg>; 2];

    /// Loads the raw words holding the scales, mins and `d`, `dmin` of the super-block at
    /// `w_block` in `space`.
    fn load_factors(&self, b: &mut KernelBuilder, space: Space, w_block: Reg) -> Vec<Reg>;

    /// The factors from [`MmaFormat::load_factors`]' words.
    fn decode_factors(&self, b: &mut KernelBuilder, words: &[Reg]) -> RowFactors;
}

/// The tensor-core implementation for `ty`, if one exists.
pub fn mma_format_for(ty: GgmlType) -> Option<&'static dyn MmaFormat> {
    Some(match ty {
        GgmlType::Q4_K => &q4_k::Q4_K,
        GgmlType::Q5_K => &q4_k::Q5_K,
        _ => return None,
    })
}

/// Why `warps` warps of `format` (plain or fused) cannot run on the tensor cores, if so: one
/// shared-memory stage per warp of both matrices must fit the static 48 KiB.
pub(super) fn unsupported_geometry(format: GgmlType, warps: u8) -> Option<String> {
    let imp = mma_format_for(format)?;
    let fused = StageLayout::new(imp.block_bytes(), 2, u32::from(warps));
    (fused.stages == 0).then(|| {
        format!(
            "{format}: {warps} warps of two-matrix stages ({} bytes each) exceed {} bytes of \
             shared memory",
            fused.stage_bytes,
            stage::SHARED_BYTES
        )
    })
}

pub(super) fn build(name: &str, g: &Gemv) -> Kernel {
    let imp = mma_format_for(g.format()).expect("Gemv::tensor_core admits only MMA formats");
    let (m, warps) = (u32::from(g.m()), u32::from(g.warps()));
    let plan = ColumnPlan::new(m);
    let (qk, block_bytes, subs) = (imp.qk(), imp.block_bytes(), imp.sub_blocks() as usize);
    let threads = warps * WARP;

    let (mut b, args) = begin_kernel(name, g, threads);
    let GemvArgs {
        weights,
        x,
        y,
        n,
        k,
    } = args;
    let mats = weights.len() as u32;

    let tid = b.mov(Ty::U32, Special::TidX);
    let ctaid = b.mov(Ty::U32, Special::CtaidX);
    let lane = b.and(Ty::U32, tid, WARP - 1);
    let warp = b.shr(Ty::U32, tid, WARP.trailing_zeros());
    let group = b.shr(Ty::U32, lane, 2u32);
    let quad = b.and(Ty::U32, lane, 3u32);
    let elem0 = b.shl(Ty::U32, quad, ELEMS_PER_THREAD.trailing_zeros());
    let row0 = b.mul(Ty::U32, ctaid, TILE_ROWS);
    let my_row = b.add(Ty::U32, row0, group);
    let blocks_per_row = b.shr(Ty::U32, k, qk.trailing_zeros());
    let row_bytes = b.mul(Ty::U32, blocks_per_row, block_bytes);
    let last_col = m - 1;

    // The warp's shared stages: [warp][stage][matrix][row 16][stride].
    let layout = StageLayout::new(block_bytes, mats, warps);
    assert!(
        layout.stages > 0,
        "{}",
        unsupported_geometry(g.format(), g.warps()).unwrap_or_default()
    );
    let smem = b.shared_array("w_stages", warps * layout.warp_bytes(), 16);
    let smem_base = b.shared_base(&smem);
    let warp_base = b.mad_lo(Ty::U32, warp, layout.warp_bytes(), smem_base);
    let copy = StageCopy::plan(&mut b, &layout.copy_shape(), &weights, lane, n);

    // The results this lane finishes, and the rows whose factors it decodes.
    let upper = b.setp(Cmp::Ge, Ty::U32, quad, 2u32);
    let chains = plan.chains(upper);
    // Offsets inside a stage: quants[matrix][half] (plus 8t), factors[matrix][factor row].
    let row_offset = |b: &mut KernelBuilder, mat: u32, half: Option<Reg>, extra: Option<Reg>| {
        let row = match half {
            Some(upper) => {
                let h = b.selp(Ty::U32, TILE_ROWS / 2, 0u32, upper);
                b.add(Ty::U32, group, h)
            }
            None => group,
        };
        let row = b.add(Ty::U32, row, mat * TILE_ROWS);
        let offset = b.mul(Ty::U32, row, layout.stride);
        match extra {
            Some(e) => b.add(Ty::U32, offset, e),
            None => offset,
        }
    };
    let quant_offsets: Vec<Vec<Reg>> = (0..mats)
        .map(|mat| {
            [0, TILE_ROWS / 2]
                .iter()
                .map(|&h| {
                    let base = row_offset(&mut b, mat, None, Some(elem0));
                    b.add(Ty::U32, base, h * layout.stride)
                })
                .collect()
        })
        .collect();
    let factor_offsets: Vec<Vec<Reg>> = (0..mats)
        .map(|mat| {
            if plan.both_rows() {
                [0, TILE_ROWS / 2]
                    .iter()
                    .map(|&h| {
                        let base = row_offset(&mut b, mat, None, None);
                        b.add(Ty::U32, base, h * layout.stride)
                    })
                    .collect()
            } else {
                vec![row_offset(&mut b, mat, Some(upper), None)]
            }
        })
        .collect();

    // Activations: mma column g carries column cmap(g) from element 8t of each sub-block;
    // result column 2t + j is column cmap(2t + j), whose `{d, s}` plane row this lane reads.
    let b_col = plan.column(&mut b, group);
    let b_col = b.min(Ty::U32, b_col, last_col);
    let x_b = b.mad_wide(Ty::U32, k, b_col, x);
    let x_b = b.add_offset(x_b, elem0);
    let (scale_plane, col_scale_bytes) = q8_1_scale_plane(&mut b, x, k, m);
    let first_n = b.shl(Ty::U32, quad, 1u32);
    // result_cols[j]: the unclamped column of mma column 2t + j (stores check it against M).
    let result_cols: Vec<Reg> = (0..2u32)
        .map(|j| {
            let n_j = b.add(Ty::U32, first_n, j);
            plan.column(&mut b, n_j)
        })
        .collect();
    let x_scales: Vec<Reg> = result_cols[..plan.columns_per_lane() as usize]
        .iter()
        .map(|&col| {
            let col = b.min(Ty::U32, col, last_col);
            b.mad_wide(Ty::U32, col_scale_bytes, col, scale_plane)
        })
        .collect();

    // acc[matrix][chain].
    let acc: Vec<Vec<Reg>> = weights
        .iter()
        .map(|_| chains.iter().map(|_| b.mov(Ty::F32, 0.0f32)).collect())
        .collect();
    let visit = Visit {
        imp,
        chains: &chains,
        acc: &acc,
        zero: b.mov(Ty::B32, 0u32),
        ones: b.mov(Ty::B32, 0x0101_0101u32),
        x_b,
        x_scales: &x_scales,
        qk,
        subs,
    };

    b.griddep_wait();
    b.griddep_launch_dependents();

    // Visit v (super-block sb = warp + v * warps) reads stage v % stages; the copies of visits
    // v + 1 .. v + stages - 1 are in flight meanwhile. Each iteration first lets every lane
    // finish reading the stage it is about to refill (visit v - 1's), then issues visit
    // v + stages - 1's copies (none past the row's end; the group is still committed so the
    // wait count holds), waits for visit v's group and syncs the warp so all lanes' copies are
    // visible.
    let ahead = layout.stages - 1;
    for s in 0..ahead {
        let sb_s = b.add(Ty::U32, warp, s * warps);
        let slot = b.add(Ty::U32, warp_base, s * layout.stage_bytes);
        copy.issue(&mut b, slot, row0, sb_s, row_bytes);
        b.cp_async_commit();
    }
    let sb = b.mov(Ty::U32, warp);
    let slot = b.mov(Ty::U32, 0u32);
    let done = b.label("sb_done");
    let top = b.label("sb_loop");
    let nothing = b.setp(Cmp::Ge, Ty::U32, sb, blocks_per_row);
    b.bra_if(nothing, false, &done);
    b.place(&top);
    {
        b.bar_warp_sync();
        let sb_ahead = b.add(Ty::U32, sb, ahead * warps);
        let slot_ahead = b.add(Ty::U32, slot, ahead);
        let wrapped = b.setp(Cmp::Ge, Ty::U32, slot_ahead, layout.stages);
        let unwrapped = b.sub(Ty::U32, slot_ahead, layout.stages);
        let slot_ahead = b.selp(Ty::U32, unwrapped, slot_ahead, wrapped);
        let ahead_base = b.mad_lo(Ty::U32, slot_ahead, layout.stage_bytes, warp_base);
        copy.issue(&mut b, ahead_base, row0, sb_ahead, row_bytes);
        b.cp_async_commit();
        let activations = visit.load_activations(&mut b, sb);
        b.cp_async_wait(ahead);
        b.bar_warp_sync();
        let stage_base = b.mad_lo(Ty::U32, slot, layout.stage_bytes, warp_base);
        let source = FragmentSource {
            stage_base,
            quant_offsets: &quant_offsets,
            factor_offsets: &factor_offsets,
        };
        visit.emit(&mut b, &source, &activations);
        let next = b.add(Ty::U32, sb, warps);
        b.mov_to(sb, next);
        let next_slot = b.add(Ty::U32, slot, 1u32);
        let wrapped = b.setp(Cmp::Eq, Ty::U32, next_slot, layout.stages);
        let next_slot = b.selp(Ty::U32, 0u32, next_slot, wrapped);
        b.mov_to(slot, next_slot);
        let more = b.setp(Cmp::Lt, Ty::U32, sb, blocks_per_row);
        b.bra_if(more, false, &top);
    }
    b.place(&done);
    b.cp_async_wait(0);

    let flat: Vec<Reg> = acc.iter().flatten().copied().collect();
    let totals = if warps > 1 {
        combine_warps(&mut b, &[flat], tid, lane, warps, None).remove(0)
    } else {
        flat
    };

    for (c, chain) in chains.iter().enumerate() {
        let total = if g.is_gate_up_swiglu() {
            silu_times(&mut b, totals[c], totals[chains.len() + c])
        } else {
            totals[c]
        };
        let row = match chain.half {
            Half::Fixed(h) => b.add(Ty::U32, my_row, h as u32 * (TILE_ROWS / 2)),
            Half::Lane(p) => {
                let offset = b.selp(Ty::U32, TILE_ROWS / 2, 0u32, p);
                b.add(Ty::U32, my_row, offset)
            }
        };
        let col = result_cols[chain.j];
        let col_ok = b.setp(Cmp::Lt, Ty::U32, col, m);
        store_output(&mut b, y, n, row, col, col_ok, total);
    }
    b.ret();
    b.finish()
}
