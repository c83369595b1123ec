//! Matrix × few-vectors on the tensor cores, for super-block K-quants with per-sub-block
//! integer scales and mins (Q4_K, Q5_K): every 32-element sub-block of 16 weight rows meets the
//! (up to) 8 activation columns in one `mma.sync.m16n8k32.s8`, the way ggml-cuda's MMQ
//! (ggml/src/ggml-cuda/mmq.cuh, `vec_dot_q4_K_q8_1_impl_mmq`) handles batches, so the work per
//! weight byte barely grows with M.
//!
//! A block's `warps` warps share one tile of 16 rows; warp `w` takes super-blocks
//! `w, w + warps, …` of those rows and the warps' partials are added in warp order through
//! shared memory. Lane `4g + t` (`g` the mma group, `t` the thread in the group) owns rows
//! `g`, `g + 8` of the tile and columns `2t`, `2t + 1` of the mma result, and feeds the mma
//! elements `8t .. 8t + 8` of every sub-block: the k order inside a sub-block is permuted the
//! same way for A and B (slot `4t + j` ↔ element `8t + j`, slot `16 + 4t + j` ↔ element
//! `8t + 4 + j`), so a thread's weights are one 8-byte load per row and nibble pair and its
//! activations (column `g`) one 8-byte load per sub-block.
//!
//! Per row r, column c and super-block (MMQ's order of terms): `sumi_i` exact in s32,
//! `sumf_d = Σ_i d8_i · f32(sc_i · sumi_i)`, `sumf_m = Σ_i (d8_i · Σu_i) · m_i`, then
//! `acc += d · sumf_d` and `acc += (−dmin) · sumf_m`. `Σu_i` comes exact from one more mma
//! with an all-ones A, as ggml's dp4a `vec_dot_q4_K_q8_1` sums the bytes (MMQ uses the Q8_1
//! block's f16 `s`, which moved results by ~7e-4 relative on the emulator cases).
//! An output's arithmetic depends on its row, column and `warps` only: columns ≥ M read
//! column M − 1 and are never stored, so results are batch-invariant.
//!
//! Layouts as the dp4a body: W `[n, k]` in blocks, x planar Q8_1 (16-byte aligned), y f32
//! `[m, n]`; rows past `n` read row `n − 1` and are not stored.

use super::format::{Q8_1_DS_BYTES, QK8_1, ds_d};
use super::formats::affine_k_mma;
use super::{Gemv, WARP, combine_warps, silu_times};
use crate::ParamKind;
use crate::builder::{Addr, Cmp, Kernel, KernelBuilder, Reg, RegClass, Round, Space, Ty};
use quant_formats::GgmlType;

/// Weight rows per tile: the mma's M.
pub const TILE_ROWS: u32 = 16;
/// Activation columns per mma: its N.
const MMA_COLS: u32 = 8;
// Every column of a launch has its own mma column.
const _: () = assert!(super::MAX_M as u32 <= MMA_COLS);
/// Sub-block elements one thread feeds per mma.
const ELEMS_PER_THREAD: u32 = 8;

/// One row's share of one super-block for thread `t` of its mma group, decoded for the mma.
pub struct MmaRowBlock {
    /// Per sub-block, the thread's two A words: elements `8t .. 8t + 4` and `8t + 4 .. 8t + 8`
    /// as unsigned bytes below 128 (so they read the same as s8).
    pub quants: Vec<[Reg; 2]>,
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

    /// Bytes per super-block.
    fn block_bytes(&self) -> u32 {
        self.ty().block_bytes() as u32
    }

    /// 32-element sub-blocks per super-block.
    fn sub_blocks(&self) -> u32 {
        self.qk() / QK8_1
    }

    /// Loads and decodes the super-block at global `w_block` for the thread whose elements
    /// start at `elem0 = 8t` in every sub-block. Blocks are 16-byte aligned.
    fn emit_row_block(&self, b: &mut KernelBuilder, w_block: Reg, elem0: Reg) -> MmaRowBlock;
}

/// The tensor-core implementation for `ty`, if one exists.
pub fn mma_format_for(ty: GgmlType) -> Option<&'static dyn MmaFormat> {
    Some(match ty {
        GgmlType::Q4_K => &affine_k_mma::Q4_K,
        GgmlType::Q5_K => &affine_k_mma::Q5_K,
        _ => return None,
    })
}

/// Per result column, the super-block's sub-block factors as f32.
struct ColumnScales {
    d8: Vec<Reg>,
    /// `d8 · Σu` (Σu exact): what meets the mins.
    d8_sum_u: Vec<Reg>,
}

pub(super) fn build(name: &str, g: &Gemv) -> Kernel {
    let imp = mma_format_for(g.format()).expect("Gemv::tensor_core admits only MMA formats");
    let (m, warps) = (u32::from(g.m()), u32::from(g.warps()));
    let (qk, block_bytes, subs) = (imp.qk(), imp.block_bytes(), imp.sub_blocks() as usize);
    let threads = warps * WARP;

    let mut b = KernelBuilder::new(name, g.target());
    b.max_threads(threads);
    b.min_blocks_per_sm(1);
    let params = g.params();
    let weights: Vec<Reg> = params[..params.len() - 4]
        .iter()
        .map(|p| b.param(p.name, ParamKind::Ptr))
        .collect();
    let x = b.param("x", ParamKind::Ptr);
    let y = b.param("y", ParamKind::Ptr);
    let n = b.param("n", ParamKind::U32);
    let k = b.param("k", ParamKind::U32);

    let tid = b.mov(Ty::U32, crate::builder::Special::TidX);
    let ctaid = b.mov(Ty::U32, crate::builder::Special::CtaidX);
    let lane = b.and(Ty::U32, tid, WARP - 1);
    let warp = b.shr(Ty::U32, tid, WARP.trailing_zeros());
    let group = b.shr(Ty::U32, lane, 2u32);
    let quad = b.and(Ty::U32, lane, 3u32);
    let elem0 = b.shl(Ty::U32, quad, ELEMS_PER_THREAD.trailing_zeros());
    let row0 = b.mul(Ty::U32, ctaid, TILE_ROWS);
    let my_row = b.add(Ty::U32, row0, group);
    let blocks_per_row = b.shr(Ty::U32, k, qk.trailing_zeros());
    let row_bytes = b.mul(Ty::U32, blocks_per_row, block_bytes);
    let last_row = b.sub(Ty::U32, n, 1u32);

    // w_rows[matrix][half]: rows g and g + 8 of the tile (clamped to n - 1).
    let row_offsets: Vec<Reg> = [0u32, TILE_ROWS / 2]
        .iter()
        .map(|&half| {
            let row = b.add(Ty::U32, my_row, half);
            let row = b.min(Ty::U32, row, last_row);
            b.mul_wide(Ty::U32, row, row_bytes)
        })
        .collect();
    let w_rows: Vec<Vec<Reg>> = weights
        .iter()
        .map(|&w| row_offsets.iter().map(|&o| b.add(Ty::U64, w, o)).collect())
        .collect();

    // Activations: B column g (clamped to M - 1) from element 8t of each sub-block; the
    // `{d, s}` of result columns 2t, 2t + 1 (clamped).
    let last_col = m - 1;
    let b_col = b.min(Ty::U32, group, last_col);
    let x_b = b.mad_wide(Ty::U32, k, b_col, x);
    let x_b = b.add_offset(x_b, elem0);
    let quant_plane_bytes = b.mul_wide(Ty::U32, k, m);
    let scale_plane = b.add(Ty::U64, x, quant_plane_bytes);
    let col_scale_bytes = b.shr(Ty::U32, k, QK8_1.trailing_zeros());
    let col_scale_bytes = b.mul(Ty::U32, col_scale_bytes, Q8_1_DS_BYTES);
    let first_col = b.shl(Ty::U32, quad, 1u32);
    let x_scales: Vec<Reg> = (0..2u32)
        .map(|c| {
            let col = b.add(Ty::U32, first_col, c);
            let col = b.min(Ty::U32, col, last_col);
            b.mad_wide(Ty::U32, col_scale_bytes, col, scale_plane)
        })
        .collect();

    // acc[matrix][e], e = 2 * half + column: the mma result fragment order.
    let acc: Vec<Vec<Reg>> = weights
        .iter()
        .map(|_| (0..4).map(|_| b.mov(Ty::F32, 0.0f32)).collect())
        .collect();
    let zero = b.mov(Ty::B32, 0u32);
    let ones = b.mov(Ty::B32, 0x0101_0101u32);

    b.griddep_wait();
    b.griddep_launch_dependents();

    let sb = b.mov(Ty::U32, warp);
    let done = b.label("sb_done");
    let top = b.label("sb_loop");
    let nothing = b.setp(Cmp::Ge, Ty::U32, sb, blocks_per_row);
    b.bra_if(nothing, false, &done);
    b.place(&top);
    {
        let row_blocks: Vec<Vec<MmaRowBlock>> = w_rows
            .iter()
            .map(|halves| {
                halves
                    .iter()
                    .map(|&w_row| {
                        let w_block = b.index_addr(w_row, sb, block_bytes);
                        imp.emit_row_block(&mut b, w_block, elem0)
                    })
                    .collect()
            })
            .collect();
        let x_sb = b.index_addr(x_b, sb, qk);
        let b_frags: Vec<Vec<Reg>> = (0..subs as i64)
            .map(|i| {
                b.ld_vec(
                    Space::GlobalNc,
                    Ty::B32,
                    2,
                    Addr::reg_off(x_sb, i * i64::from(QK8_1)),
                )
            })
            .collect();
        // Per result column: d8 of each sub-block and d8 · Σu from the exact byte sums (an
        // all-ones A gives Σu of columns 2t, 2t + 1 in the first two result registers).
        let d8: Vec<Vec<Reg>> = x_scales
            .iter()
            .map(|&scales| column_d8(&mut b, scales, sb, subs))
            .collect();
        let mut cols: Vec<ColumnScales> = d8
            .into_iter()
            .map(|d8| ColumnScales {
                d8,
                d8_sum_u: Vec::new(),
            })
            .collect();
        for frag in &b_frags {
            let sums = b.mma_m16n8k32_s8([ones; 4], [frag[0], frag[1]], [zero; 4]);
            for (c, col) in cols.iter_mut().enumerate() {
                let sum = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sums[c]);
                let i = col.d8_sum_u.len();
                col.d8_sum_u.push(b.mul(Ty::F32, col.d8[i], sum));
            }
        }
        for (mat, rows) in row_blocks.iter().enumerate() {
            let mut sumf_d: [Option<Reg>; 4] = [None; 4];
            let mut sumf_m: [Option<Reg>; 4] = [None; 4];
            for (i, frag) in b_frags.iter().enumerate() {
                let (lo, hi) = (&rows[0].quants[i], &rows[1].quants[i]);
                let sumi =
                    b.mma_m16n8k32_s8([lo[0], hi[0], lo[1], hi[1]], [frag[0], frag[1]], [zero; 4]);
                for (e, &s) in sumi.iter().enumerate() {
                    let (row, col) = (&rows[e / 2], &cols[e % 2]);
                    let scaled = b.mul(Ty::S32, row.scales[i], s);
                    let scaled = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), scaled);
                    sumf_d[e] = Some(mul_add(&mut b, col.d8[i], scaled, sumf_d[e]));
                    sumf_m[e] = Some(mul_add(&mut b, col.d8_sum_u[i], row.mins[i], sumf_m[e]));
                }
            }
            for e in 0..4 {
                let row = &rows[e / 2];
                let (d_part, m_part) = (sumf_d[e].expect("subs > 0"), sumf_m[e].expect("subs > 0"));
                let t = b.fma(Ty::F32, row.d, d_part, acc[mat][e]);
                let t = b.fma(Ty::F32, row.neg_dmin, m_part, t);
                b.mov_to(acc[mat][e], t);
            }
        }
    }
    let next = b.add(Ty::U32, sb, warps);
    b.mov_to(sb, next);
    let more = b.setp(Cmp::Lt, Ty::U32, sb, blocks_per_row);
    b.bra_if(more, false, &top);
    b.place(&done);

    let flat: Vec<Reg> = acc.iter().flatten().copied().collect();
    let totals = if warps > 1 {
        combine_warps(&mut b, &[flat], tid, lane, warps).remove(0)
    } else {
        flat
    };

    for e in 0..4u32 {
        let total = if g.is_gate_up_swiglu() {
            silu_times(&mut b, totals[e as usize], totals[4 + e as usize])
        } else {
            totals[e as usize]
        };
        let row = b.add(Ty::U32, my_row, (e / 2) * (TILE_ROWS / 2));
        let col = b.add(Ty::U32, first_col, e % 2);
        let row_ok = b.setp(Cmp::Lt, Ty::U32, row, n);
        let col_ok = b.setp(Cmp::Lt, Ty::U32, col, m);
        let store = b.reg(RegClass::Pred);
        b.inst(format!("and.pred {store}, {row_ok}, {col_ok}"));
        let index = b.mad_lo(Ty::U32, n, col, row);
        let addr = b.index_addr(y, index, 4);
        b.predicated(store, false, |b| {
            b.st(Space::Global, Ty::F32, Addr::reg(addr), total)
        });
    }
    b.ret();
    b.finish()
}

/// `a * b + acc`, or `a * b` for the first term.
fn mul_add(b: &mut KernelBuilder, x: Reg, y: Reg, acc: Option<Reg>) -> Reg {
    match acc {
        None => b.mul(Ty::F32, x, y),
        Some(acc) => b.fma(Ty::F32, x, y, acc),
    }
}

/// `d8` of super-block `sb`'s sub-blocks for the column whose scale-plane row starts at
/// `scales` (16-byte loads of the `{d, s}` words), as f32.
fn column_d8(b: &mut KernelBuilder, scales: Reg, sb: Reg, subs: usize) -> Vec<Reg> {
    let base = b.index_addr(scales, sb, subs as u32 * Q8_1_DS_BYTES);
    let words: Vec<Reg> = (0..subs.div_ceil(4) as i64)
        .flat_map(|c| b.ld_vec(Space::GlobalNc, Ty::B32, 4, Addr::reg_off(base, 16 * c)))
        .take(subs)
        .collect();
    words.into_iter().map(|w| ds_d(b, w)).collect()
}
