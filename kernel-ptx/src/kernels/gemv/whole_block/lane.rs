//! One lane's visit of one super-block of its row in the whole-block body: the factors and
//! quants decoded from the warp's shared stage, the activations of every column from global
//! memory, and the tensor-core body's MMQ-order terms added to the lane's accumulators.

use crate::builder::{Addr, KernelBuilder, Operand, Reg, Round, Space, Ty};
use crate::kernels::gemv::format::{QK8_1, ds_d, super_block_ds_words};
use crate::kernels::gemv::tensor_core::{MmaFormat, RowFactors};

/// Words of one sub-block's quants (32 bytes).
const SUB_WORDS: usize = 8;

/// One lane's super-block visit.
pub(super) struct LaneWork<'a> {
    pub imp: &'a dyn MmaFormat,
    /// Per column: its quant plane row and `{d, s}` plane row (u64).
    pub columns: &'a [(Reg, Reg)],
    /// `[matrix][column]` f32 accumulators.
    pub acc: &'a [Vec<Reg>],
    /// `0x01010101`.
    pub ones: Reg,
}

impl LaneWork<'_> {
    /// Adds super-block `sb` of the lane's row of every matrix, whose copies start at the
    /// shared addresses `blocks` (u32, one per matrix), times every column.
    pub fn super_block(&self, b: &mut KernelBuilder, blocks: &[Reg], sb: Reg) {
        let imp = self.imp;
        let subs = imp.sub_blocks() as usize;
        let d8: Vec<Vec<Reg>> = self
            .columns
            .iter()
            .map(|&(_, scales)| {
                super_block_ds_words(b, scales, sb, subs)
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
