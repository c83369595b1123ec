//! Which lane of an mma group finishes which (row, column) results at M columns (the module
//! docs of `tensor_core` give the map): never what a result's arithmetic is.

use super::MMA_COLS;
use crate::builder::{KernelBuilder, Reg, Ty};

/// How the (row, column) results of an mma are shared out at `m` columns (module docs).
#[derive(Clone, Copy)]
pub struct ColumnPlan {
    /// M rounded up to a power of two.
    mp: u32,
}

impl ColumnPlan {
    pub fn new(m: u32) -> Self {
        ColumnPlan {
            mp: m.next_power_of_two(),
        }
    }

    /// `cmap(n)` before clamping, for a u32 register `n`.
    pub fn column(&self, b: &mut KernelBuilder, n: Reg) -> Reg {
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
    pub fn columns_per_lane(&self) -> u32 {
        if self.mp <= 2 { 1 } else { 2 }
    }

    /// True when each lane finishes both of its rows (else row `g + 8 (t >> 1)` only).
    pub fn both_rows(&self) -> bool {
        self.mp == MMA_COLS
    }

    /// The results a lane finishes; `upper` is the lane's `t >> 1` as a predicate (row
    /// `g + 8` when true).
    pub fn chains(&self, upper: Reg) -> Vec<Chain> {
        if self.both_rows() {
            (0..2)
                .flat_map(|h| {
                    (0..2).map(move |j| Chain {
                        half: Half::Fixed(h),
                        j,
                    })
                })
                .collect()
        } else {
            (0..self.columns_per_lane() as usize)
                .map(|j| Chain {
                    half: Half::Lane(upper),
                    j,
                })
                .collect()
        }
    }
}

/// One (row, column) result a lane finishes.
pub struct Chain {
    /// Which of the lane's rows: 0 (`g`), 1 (`g + 8`), or a runtime choice (`t >> 1`).
    pub half: Half,
    /// `j`: the mma result column `2t + j`.
    pub j: usize,
}

#[derive(Clone, Copy)]
pub enum Half {
    Fixed(usize),
    /// Predicate true for row `g + 8`.
    Lane(Reg),
}
