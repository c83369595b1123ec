//! How the whole-block body adds a row's slice partials (in slice order, as the tensor-core
//! body adds its warps') and stores the row's results.

use crate::builder::{Addr, Cmp, KernelBuilder, Reg, Shfl, Space, Ty};
use crate::kernels::gemv::{silu_times, store_output};

/// Where results go: y f32 `[m, n]`, plain or `silu(gate) * up`.
pub(super) struct Output {
    pub y: Reg,
    pub n: Reg,
    pub gate_up_swiglu: bool,
}

impl Output {
    /// Stores `totals[matrix][column]` as row `row`'s results where `store` holds.
    fn store(&self, b: &mut KernelBuilder, totals: &[Vec<Reg>], row: Reg, store: Reg) {
        for (c, &plain) in totals[0].iter().enumerate() {
            let total = if self.gate_up_swiglu {
                silu_times(b, plain, totals[1][c])
            } else {
                plain
            };
            store_output(b, self.y, self.n, row, c as u32, store, total);
        }
    }
}

/// The fold of one block's geometry.
pub(super) enum SliceFold {
    /// Every slice of a row in one warp's lanes `slices * r .. slices * (r + 1)`: lane
    /// `s = 0` takes the partials of the next lanes in turn with `shfl.down`.
    Lanes {
        slices: u32,
        /// The lane's slice.
        slice: Reg,
        /// The lane's row in the block.
        lane_row: Reg,
    },
    /// Slices spread over warps: every lane parks its partials in shared memory, f32
    /// `[matrix][column][slice][row]`, and thread `tid < rows` adds row `tid`'s.
    Warps {
        /// The parked partials (u32 shared address).
        base: Reg,
        slices: u32,
        rows: u32,
        /// The lane's own slot `[0][0][slice][lane_row]`.
        own: Reg,
        tid: Reg,
    },
}

impl SliceFold {
    /// The shared bytes `Warps` needs for `matrices` matrices and `m` columns.
    pub fn shared_bytes(slices: u32, rows: u32, matrices: u32, m: u32) -> u32 {
        matrices * m * slices * rows * 4
    }

    /// Adds the partials `acc[matrix][column]` of the block's rows (starting at row `row0`)
    /// in slice order and stores the results. Every thread of the block calls it.
    pub fn store(&self, b: &mut KernelBuilder, acc: &[Vec<Reg>], out: &Output, row0: Reg) {
        match *self {
            SliceFold::Lanes {
                slices,
                slice,
                lane_row,
            } => {
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
                let row = b.add(Ty::U32, row0, lane_row);
                out.store(b, &totals, row, first_slice);
            }
            SliceFold::Warps {
                base,
                slices,
                rows,
                own,
                tid,
            } => {
                // A second barrier keeps the next fold's writes behind this one's reads.
                let plane = slices * rows * 4;
                for (i, &partial) in acc.iter().flatten().enumerate() {
                    let addr = Addr::reg_off(own, i64::from(i as u32 * plane));
                    b.st(Space::Shared, Ty::F32, addr, partial);
                }
                b.bar_sync(0);
                let reader = b.setp(Cmp::Lt, Ty::U32, tid, rows);
                let skip = b.label("not_folding");
                b.bra_if(reader, true, &skip);
                let row_slot = b.mad_lo(Ty::U32, tid, 4u32, base);
                let columns = acc[0].len() as u32;
                let totals: Vec<Vec<Reg>> = (0..acc.len() as u32)
                    .map(|mat| {
                        (0..columns)
                            .map(|c| {
                                let first = (mat * columns + c) * plane;
                                let mut total: Option<Reg> = None;
                                for s in 0..slices {
                                    let offset = i64::from(first + s * rows * 4);
                                    let addr = Addr::reg_off(row_slot, offset);
                                    let v = b.ld(Space::Shared, Ty::F32, addr);
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
                out.store(b, &totals, row, reader);
                b.place(&skip);
                b.bar_sync(0);
            }
        }
    }
}
