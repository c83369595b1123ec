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
//! Layouts as the dp4a body: W `[n, k]` in blocks, x planar Q8_1 (16-byte aligned), y f32
//! `[m, n]`; rows past `n` read row `n − 1` and are not stored.

use super::format::{Q8_1_DS_BYTES, QK8_1, ds_d};
use super::formats::affine_k_mma;
use super::{Gemv, WARP, combine_warps, silu_times};
use crate::ParamKind;
use crate::builder::{Addr, Cmp, Kernel, KernelBuilder, Reg, RegClass, Round, Space, Special, Ty};
use quant_formats::GgmlType;

/// Weight rows per tile: the mma's M.
pub const TILE_ROWS: u32 = 16;
/// Activation columns per mma: its N.
const MMA_COLS: u32 = 8;
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

    /// Bytes per super-block.
    fn block_bytes(&self) -> u32 {
        self.ty().block_bytes() as u32
    }

    /// 32-element sub-blocks per super-block.
    fn sub_blocks(&self) -> u32 {
        self.qk() / QK8_1
    }

    /// Loads the thread's raw quant words of the super-block at global `w_block` (16-byte
    /// aligned) for elements `elem0 .. elem0 + 8` (`elem0 = 8t`) of every sub-block.
    fn load_quants(&self, b: &mut KernelBuilder, w_block: Reg, elem0: Reg) -> Vec<Reg>;

    /// Per sub-block, the thread's two A words from [`MmaFormat::load_quants`]' words: elements
    /// `8t .. 8t + 4` and `8t + 4 .. 8t + 8` as unsigned bytes below 128 (so they read the same
    /// as s8).
    fn decode_quants(&self, b: &mut KernelBuilder, words: &[Reg]) -> Vec<[Reg; 2]>;

    /// Loads the raw words holding the super-block's scales, mins and `d`, `dmin`.
    fn load_factors(&self, b: &mut KernelBuilder, w_block: Reg) -> Vec<Reg>;

    /// The factors from [`MmaFormat::load_factors`]' words.
    fn decode_factors(&self, b: &mut KernelBuilder, words: &[Reg]) -> RowFactors;
}

/// The tensor-core implementation for `ty`, if one exists.
pub fn mma_format_for(ty: GgmlType) -> Option<&'static dyn MmaFormat> {
    Some(match ty {
        GgmlType::Q4_K => &affine_k_mma::Q4_K,
        GgmlType::Q5_K => &affine_k_mma::Q5_K,
        _ => return None,
    })
}

/// How the (row, column) results of an mma are shared out at `m` columns (module docs).
#[derive(Clone, Copy)]
struct ColumnPlan {
    /// M rounded up to a power of two.
    mp: u32,
}

impl ColumnPlan {
    fn new(m: u32) -> Self {
        ColumnPlan {
            mp: m.next_power_of_two(),
        }
    }

    /// `cmap(n)` before clamping, for a u32 register `n`.
    fn column(&self, b: &mut KernelBuilder, n: Reg) -> Reg {
        match self.mp {
            1 | 2 => {
                let half = b.shr(Ty::U32, n, 1u32);
                b.and(Ty::U32, half, 1u32)
            }
            4 => b.and(Ty::U32, n, 3u32),
            _ => n,
        }
    }

    /// Columns (`j`) each lane finishes per row it finishes.
    fn columns_per_lane(&self) -> u32 {
        if self.mp <= 2 { 1 } else { 2 }
    }

    /// True when each lane finishes both of its rows (else row `g + 8 (t >> 1)` only).
    fn both_rows(&self) -> bool {
        self.mp == MMA_COLS
    }
}

/// One (row, column) result a lane finishes.
struct Chain {
    /// Which of the lane's rows: 0 (`g`), 1 (`g + 8`), or a runtime choice (`t >> 1`).
    half: Half,
    /// `j`: the mma result column `2t + j`.
    j: usize,
}

#[derive(Clone, Copy)]
enum Half {
    Fixed(usize),
    /// Predicate true for row `g + 8`.
    Lane(Reg),
}

pub(super) fn build(name: &str, g: &Gemv) -> Kernel {
    let imp = mma_format_for(g.format()).expect("Gemv::tensor_core admits only MMA formats");
    let (m, warps) = (u32::from(g.m()), u32::from(g.warps()));
    let plan = ColumnPlan::new(m);
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
    let last_row = b.sub(Ty::U32, n, 1u32);
    let last_col = m - 1;

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

    // The results this lane finishes, and the rows whose factors it decodes.
    let upper = b.setp(Cmp::Ge, Ty::U32, quad, 2u32);
    let chains: Vec<Chain> = if plan.both_rows() {
        (0..2)
            .flat_map(|h| {
                (0..2).map(move |j| Chain {
                    half: Half::Fixed(h),
                    j,
                })
            })
            .collect()
    } else {
        (0..plan.columns_per_lane() as usize)
            .map(|j| Chain {
                half: Half::Lane(upper),
                j,
            })
            .collect()
    };
    // factor_rows[matrix]: [row g, row g + 8], or the lane's one row.
    let factor_rows: Vec<Vec<Reg>> = w_rows
        .iter()
        .map(|rows| {
            if plan.both_rows() {
                rows.clone()
            } else {
                vec![b.selp(Ty::U64, rows[1], rows[0], upper)]
            }
        })
        .collect();

    // Activations: mma column g carries column cmap(g) from element 8t of each sub-block;
    // result column 2t + j is column cmap(2t + j), whose `{d, s}` plane row this lane reads.
    let b_col = plan.column(&mut b, group);
    let b_col = b.min(Ty::U32, b_col, last_col);
    let x_b = b.mad_wide(Ty::U32, k, b_col, x);
    let x_b = b.add_offset(x_b, elem0);
    let quant_plane_bytes = b.mul_wide(Ty::U32, k, m);
    let scale_plane = b.add(Ty::U64, x, quant_plane_bytes);
    let col_scale_bytes = b.shr(Ty::U32, k, QK8_1.trailing_zeros());
    let col_scale_bytes = b.mul(Ty::U32, col_scale_bytes, Q8_1_DS_BYTES);
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
    let zero = b.mov(Ty::B32, 0u32);
    let ones = b.mov(Ty::B32, 0x0101_0101u32);

    b.griddep_wait();
    b.griddep_launch_dependents();

    // Software-pipelined super-block loop: the loads of the next visit (`sb + warps`, or `sb`
    // again on the last one, so addresses stay valid) are issued before the current visit's
    // decode and mmas. Two register sets alternate: `pong` is loaded and used within an
    // iteration, `ping` is refilled (register moves ptxas folds into the loads).
    let stage = Stage {
        imp,
        w_rows: &w_rows,
        factor_rows: &factor_rows,
        x_b,
        x_scales: &x_scales,
        elem0,
        block_bytes,
        qk,
        subs,
    };
    let visit = Visit {
        imp,
        chains: &chains,
        acc: &acc,
        zero,
        ones,
        subs,
    };
    let sb = b.mov(Ty::U32, warp);
    let done = b.label("sb_done");
    let top = b.label("sb_loop");
    let nothing = b.setp(Cmp::Ge, Ty::U32, sb, blocks_per_row);
    b.bra_if(nothing, false, &done);
    let ping = stage.load(&mut b, sb);
    b.place(&top);
    {
        let next = b.add(Ty::U32, sb, warps);
        let has_next = b.setp(Cmp::Lt, Ty::U32, next, blocks_per_row);
        let load_at = b.selp(Ty::U32, next, sb, has_next);
        let pong = stage.load(&mut b, load_at);
        visit.emit(&mut b, &ping);
        b.bra_if(has_next, true, &done);
        let after = b.add(Ty::U32, next, warps);
        let has_after = b.setp(Cmp::Lt, Ty::U32, after, blocks_per_row);
        let load_at = b.selp(Ty::U32, after, next, has_after);
        let refill = stage.load(&mut b, load_at);
        ping.assign(&mut b, &refill);
        visit.emit(&mut b, &pong);
        b.mov_to(sb, after);
        b.bra_if(has_after, false, &top);
    }
    b.place(&done);

    let flat: Vec<Reg> = acc.iter().flatten().copied().collect();
    let totals = if warps > 1 {
        combine_warps(&mut b, &[flat], tid, lane, warps).remove(0)
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

/// The raw words of one super-block visit, as loaded.
struct Loaded {
    /// `[matrix][half]` quant words.
    quants: Vec<Vec<Vec<Reg>>>,
    /// `[matrix][factor row]` factor words.
    factors: Vec<Vec<Vec<Reg>>>,
    /// Per sub-block, the B fragment (two words).
    b_frags: Vec<Vec<Reg>>,
    /// Per result column, the `{d, s}` words of the sub-blocks.
    ds: Vec<Vec<Reg>>,
}

impl Loaded {
    fn regs(&self) -> Vec<Reg> {
        let nested =
            |v: &Vec<Vec<Vec<Reg>>>| v.iter().flatten().flatten().copied().collect::<Vec<_>>();
        let mut all = nested(&self.quants);
        all.extend(nested(&self.factors));
        all.extend(self.b_frags.iter().flatten());
        all.extend(self.ds.iter().flatten());
        all
    }

    /// `self ← other` register by register (same shape).
    fn assign(&self, b: &mut KernelBuilder, other: &Loaded) {
        for (dst, src) in self.regs().into_iter().zip(other.regs()) {
            b.mov_to(dst, src);
        }
    }
}

/// Issues one super-block visit's loads.
struct Stage<'a> {
    imp: &'a dyn MmaFormat,
    w_rows: &'a [Vec<Reg>],
    factor_rows: &'a [Vec<Reg>],
    x_b: Reg,
    x_scales: &'a [Reg],
    elem0: Reg,
    block_bytes: u32,
    qk: u32,
    subs: usize,
}

impl Stage<'_> {
    fn load(&self, b: &mut KernelBuilder, sb: Reg) -> Loaded {
        let block = |b: &mut KernelBuilder, row: Reg| b.index_addr(row, sb, self.block_bytes);
        let quants = self
            .w_rows
            .iter()
            .map(|rows| {
                rows.iter()
                    .map(|&row| {
                        let w_block = block(b, row);
                        self.imp.load_quants(b, w_block, self.elem0)
                    })
                    .collect()
            })
            .collect();
        let factors = self
            .factor_rows
            .iter()
            .map(|rows| {
                rows.iter()
                    .map(|&row| {
                        let w_block = block(b, row);
                        self.imp.load_factors(b, w_block)
                    })
                    .collect()
            })
            .collect();
        let x_sb = b.index_addr(self.x_b, sb, self.qk);
        let b_frags = (0..self.subs as i64)
            .map(|i| {
                b.ld_vec(
                    Space::GlobalNc,
                    Ty::B32,
                    2,
                    Addr::reg_off(x_sb, i * i64::from(QK8_1)),
                )
            })
            .collect();
        let ds = self
            .x_scales
            .iter()
            .map(|&scales| {
                let base = b.index_addr(scales, sb, self.subs as u32 * Q8_1_DS_BYTES);
                (0..self.subs.div_ceil(4) as i64)
                    .flat_map(|c| {
                        b.ld_vec(Space::GlobalNc, Ty::B32, 4, Addr::reg_off(base, 16 * c))
                    })
                    .take(self.subs)
                    .collect()
            })
            .collect();
        Loaded {
            quants,
            factors,
            b_frags,
            ds,
        }
    }
}

/// Decodes one loaded visit and adds its results to the accumulators.
struct Visit<'a> {
    imp: &'a dyn MmaFormat,
    chains: &'a [Chain],
    acc: &'a [Vec<Reg>],
    zero: Reg,
    ones: Reg,
    subs: usize,
}

impl Visit<'_> {
    fn emit(&self, b: &mut KernelBuilder, loaded: &Loaded) {
        let (chains, zero, ones) = (self.chains, self.zero, self.ones);
        // Per result column j: d8 of each sub-block and d8 · Σu from the exact byte sums (an
        // all-ones A gives Σu of mma columns 2t, 2t + 1 in the first two result registers).
        let d8: Vec<Vec<Reg>> = loaded
            .ds
            .iter()
            .map(|words| words.iter().map(|&w| ds_d(b, w)).collect())
            .collect();
        let mut d8_sum_u: Vec<Vec<Reg>> = vec![Vec::new(); d8.len()];
        for frag in &loaded.b_frags {
            let sums = b.mma_m16n8k32_s8([ones; 4], [frag[0], frag[1]], [zero; 4]);
            for (j, col) in d8_sum_u.iter_mut().enumerate() {
                let sum = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sums[j]);
                col.push(b.mul(Ty::F32, d8[j][col.len()], sum));
            }
        }
        debug_assert_eq!(loaded.b_frags.len(), self.subs);
        for (mat, rows) in loaded.quants.iter().enumerate() {
            let a: Vec<Vec<[Reg; 2]>> = rows
                .iter()
                .map(|words| self.imp.decode_quants(b, words))
                .collect();
            let factors: Vec<RowFactors> = loaded.factors[mat]
                .iter()
                .map(|words| self.imp.decode_factors(b, words))
                .collect();
            let mut sumf_d: Vec<Option<Reg>> = vec![None; chains.len()];
            let mut sumf_m: Vec<Option<Reg>> = vec![None; chains.len()];
            for (i, frag) in loaded.b_frags.iter().enumerate() {
                let (lo, hi) = (&a[0][i], &a[1][i]);
                let sumi =
                    b.mma_m16n8k32_s8([lo[0], hi[0], lo[1], hi[1]], [frag[0], frag[1]], [zero; 4]);
                for (c, chain) in chains.iter().enumerate() {
                    let (s, row) = match chain.half {
                        Half::Fixed(h) => (sumi[2 * h + chain.j], &factors[h]),
                        Half::Lane(p) => (
                            b.selp(Ty::S32, sumi[2 + chain.j], sumi[chain.j], p),
                            &factors[0],
                        ),
                    };
                    let scaled = b.mul(Ty::S32, row.scales[i], s);
                    let scaled = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), scaled);
                    let (d8, d8_sum_u) = (d8[chain.j][i], d8_sum_u[chain.j][i]);
                    sumf_d[c] = Some(mul_add(b, d8, scaled, sumf_d[c]));
                    sumf_m[c] = Some(mul_add(b, d8_sum_u, row.mins[i], sumf_m[c]));
                }
            }
            for (c, chain) in chains.iter().enumerate() {
                let row = match chain.half {
                    Half::Fixed(h) => &factors[h],
                    Half::Lane(_) => &factors[0],
                };
                let (d_part, m_part) = (sumf_d[c].expect("subs > 0"), sumf_m[c].expect("subs > 0"));
                let t = b.fma(Ty::F32, row.d, d_part, self.acc[mat][c]);
                let t = b.fma(Ty::F32, row.neg_dmin, m_part, t);
                b.mov_to(self.acc[mat][c], t);
            }
        }
    }
}

/// `a * b + acc`, or `a * b` for the first term.
fn mul_add(b: &mut KernelBuilder, x: Reg, y: Reg, acc: Option<Reg>) -> Reg {
    match acc {
        None => b.mul(Ty::F32, x, y),
        Some(acc) => b.fma(Ty::F32, x, y, acc),
    }
}
