//! One super-block visit of the tensor-core body: the fragments from the warp's shared stage,
//! the activations from global memory, one mma per sub-block (plus one with an all-ones A for
//! the activation sums), and the epilogue of every (row, column) chain the lane finishes.

use super::columns::{Chain, Half};
use super::{MmaFormat, RowFactors};
use crate::builder::{Addr, KernelBuilder, Reg, Round, Space, Ty};
use crate::kernels::gemv::format::{QK8_1, ds_d, super_block_ds_words};

/// Where a visit's weight fragments are in shared memory.
pub struct FragmentSource<'a> {
    /// The stage holding the visit's blocks (u32 shared address).
    pub stage_base: Reg,
    /// `[matrix][half]`: offset of row `g` / `g + 8`'s block plus `8t` inside a stage.
    pub quant_offsets: &'a [Vec<Reg>],
    /// `[matrix][factor row]`: offset of the block whose factors the lane decodes.
    pub factor_offsets: &'a [Vec<Reg>],
}

/// One visit's activations, as loaded.
pub struct VisitActivations {
    /// Per sub-block, the B fragment (two words).
    b_frags: Vec<Vec<Reg>>,
    /// Per result column `j`, the `{d, s}` words of the sub-blocks.
    ds: Vec<Vec<Reg>>,
}

/// Decodes visits and adds their results to the accumulators.
pub struct Visit<'a> {
    pub imp: &'a dyn MmaFormat,
    pub chains: &'a [Chain],
    /// `[matrix][chain]` f32 accumulators.
    pub acc: &'a [Vec<Reg>],
    pub zero: Reg,
    pub ones: Reg,
    /// The lane's B column's quants from element `8t` (u64).
    pub x_b: Reg,
    /// Per result column `j`, the start of its `{d, s}` plane row (u64).
    pub x_scales: &'a [Reg],
    pub qk: u32,
    pub subs: usize,
}

impl Visit<'_> {
    /// Loads super-block `sb`'s activations: one 8-byte B fragment per sub-block, the `{d, s}`
    /// words in 16-byte loads.
    pub fn load_activations(&self, b: &mut KernelBuilder, sb: Reg) -> VisitActivations {
        let x_sb = b.index_addr(self.x_b, sb, self.qk);
        let b_frags = (0..self.subs as i64)
            .map(|i| {
                let addr = Addr::reg_off(x_sb, i * i64::from(QK8_1));
                b.ld_vec(Space::GlobalNc, Ty::B32, 2, addr)
            })
            .collect();
        let ds = self
            .x_scales
            .iter()
            .map(|&scales| super_block_ds_words(b, scales, sb, self.subs))
            .collect();
        VisitActivations { b_frags, ds }
    }

    pub fn emit(&self, b: &mut KernelBuilder, src: &FragmentSource, act: &VisitActivations) {
        let (chains, zero, ones) = (self.chains, self.zero, self.ones);
        // Per result column j: d8 of each sub-block and d8 · Σu from the exact byte sums (an
        // all-ones A gives Σu of mma columns 2t, 2t + 1 in the first two result registers).
        let d8: Vec<Vec<Reg>> = act
            .ds
            .iter()
            .map(|words| words.iter().map(|&w| ds_d(b, w)).collect())
            .collect();
        let mut d8_sum_u: Vec<Vec<Reg>> = vec![Vec::new(); d8.len()];
        for frag in &act.b_frags {
            let sums = b.mma_m16n8k32_s8([ones; 4], [frag[0], frag[1]], [zero; 4]);
            for (j, col) in d8_sum_u.iter_mut().enumerate() {
                let sum = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), sums[j]);
                col.push(b.mul(Ty::F32, d8[j][col.len()], sum));
            }
        }
        for (mat, acc) in self.acc.iter().enumerate() {
            let a: Vec<Vec<[Reg; 2]>> = src.quant_offsets[mat]
                .iter()
                .map(|&offset| {
                    let addr = b.add(Ty::U32, src.stage_base, offset);
                    let words = self.imp.load_quants(b, Space::Shared, addr);
                    self.imp.decode_quants(b, &words)
                })
                .collect();
            let factors: Vec<RowFactors> = src.factor_offsets[mat]
                .iter()
                .map(|&offset| {
                    let addr = b.add(Ty::U32, src.stage_base, offset);
                    let words = self.imp.load_factors(b, Space::Shared, addr);
                    self.imp.decode_factors(b, &words)
                })
                .collect();
            let row_of = |chain: &Chain| match chain.half {
                Half::Fixed(h) => h,
                Half::Lane(_) => 0,
            };
            let mut sumf_d: Vec<Option<Reg>> = vec![None; chains.len()];
            let mut sumf_m: Vec<Option<Reg>> = vec![None; chains.len()];
            for (i, frag) in act.b_frags.iter().enumerate() {
                let (lo, hi) = (&a[0][i], &a[1][i]);
                let sumi =
                    b.mma_m16n8k32_s8([lo[0], hi[0], lo[1], hi[1]], [frag[0], frag[1]], [zero; 4]);
                for (c, chain) in chains.iter().enumerate() {
                    let s = match chain.half {
                        Half::Fixed(h) => sumi[2 * h + chain.j],
                        Half::Lane(p) => b.selp(Ty::S32, sumi[2 + chain.j], sumi[chain.j], p),
                    };
                    let row = &factors[row_of(chain)];
                    let scaled = b.mul(Ty::S32, row.scales[i], s);
                    let scaled = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), scaled);
                    let (d8, d8_sum_u) = (d8[chain.j][i], d8_sum_u[chain.j][i]);
                    sumf_d[c] = Some(mul_add(b, d8, scaled, sumf_d[c]));
                    sumf_m[c] = Some(mul_add(b, d8_sum_u, row.mins[i], sumf_m[c]));
                }
            }
            for (c, chain) in chains.iter().enumerate() {
                let row = &factors[row_of(chain)];
                let (d_part, m_part) = (sumf_d[c].expect("subs > 0"), sumf_m[c].expect("subs > 0"));
                let t = b.fma(Ty::F32, row.d, d_part, acc[c]);
                let t = b.fma(Ty::F32, row.neg_dmin, m_part, t);
                b.mov_to(acc[c], t);
            }
        }
    }
}

/// `x * y + acc`, or `x * y` for the first term.
fn mul_add(b: &mut KernelBuilder, x: Reg, y: Reg, acc: Option<Reg>) -> Reg {
    match acc {
        None => b.mul(Ty::F32, x, y),
        Some(acc) => b.fma(Ty::F32, x, y, acc),
    }
}
