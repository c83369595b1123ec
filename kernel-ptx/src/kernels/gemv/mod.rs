//! Matrix × few-vectors for every weight format (decode and small batches): integer formats
//! dot Q8_1 activations with dp4a, float formats dot f32 activations.
//!
//! Mirrors ggml-cuda's `mul_mat_vec_q` (ggml/src/ggml-cuda/mmvq.cu): a block of `warps` warps
//! computes `rows` consecutive output rows for all M columns in one pass over the weights.
//! Thread `tid` visits weight blocks `kbx = tid / (qi/vdr)` stepping by
//! `vdr * warps * 32 / qi` and consumes words `kqs = vdr * (tid % (qi/vdr))` of each. Partial sums
//! are combined lane-wise across warps through shared memory (warp order), then by a butterfly
//! warp sum. Every column goes through exactly the arithmetic of M = 1, so results do not depend
//! on M (batch invariance) as long as `warps` (which fixes the blocks a thread visits and
//! the cross-warp sum) is the same for every M, which `select_matvec` guarantees; rows per
//! block, staging and the L2 prefetch leave a column's arithmetic unchanged.
//!
//! Layouts: W `[n, k]` row-major in blocks (`k / qk` per row); x Q8_1 `[m, k / 32]` in the
//! planar layout of `quant_formats::q8_1_to_planes` (f32 `[m, k]` for float weights), 16-byte
//! aligned; y f32 `[m, n]`. Each thread decodes its slice of every row's block once and loads
//! each column's activations once per visit, so activations are shared by the block's rows.
//!
//! Staged variants ([`Gemv::staged`], chosen per format, M and K by `select_matvec`)
//! copy each tile of the block's rows into shared memory with coalesced 16-byte loads first
//! (`staging.rs`) when the rows are 16-byte aligned, and run the unstaged loop otherwise; both
//! give bit-identical results.
//!
//! The gate/up/SwiGLU variant streams two weight matrices of the same shape and format
//! through the same body with one activation input and stores `silu(gate · x) * (up · x)`.

mod format;
mod formats;
mod stage_copy;
mod staging;
mod streamed;
mod tensor_core;
mod thread_dots;
mod whole_block;

pub use format::{ActBlock, Activations, GemvFormat, WeightSource, format_for};
use staging::{StagedLoop, Tile};
pub use tensor_core::{MmaFormat, RowFactors, TILE_ROWS, mma_format_for};
use thread_dots::ThreadDots;

use crate::builder::{
    Addr, Cmp, FloatUnary, Kernel, KernelBuilder, Label, Operand, Reg, Space, Special, Ty,
};
use crate::kernel_type::div_ceil;
use crate::kernels::reduce::warp_sum;
use crate::{KernelError, LaunchDims, LaunchGeometry, Param, ParamKind, SmTarget};
use quant_formats::GgmlType;

const WARP: u32 = 32;

/// Most activation columns one launch handles.
pub const MAX_M: u8 = 8;

const fn ptr(name: &'static str) -> Param {
    Param {
        name,
        kind: ParamKind::Ptr,
    }
}

const fn u32_param(name: &'static str) -> Param {
    Param {
        name,
        kind: ParamKind::U32,
    }
}

pub const PARAMS: &[Param] = &[ptr("w"), ptr("x"), ptr("y"), u32_param("n"), u32_param("k")];

/// Arguments of the gate/up/SwiGLU variant: both weight matrices `[n, k]`, then as `PARAMS`.
pub const PARAMS_GATE_UP: &[Param] = &[
    ptr("w_gate"),
    ptr("w_up"),
    ptr("x"),
    ptr("y"),
    u32_param("n"),
    u32_param("k"),
];

/// One gemv variant. Fields are private so every value is one `new` accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gemv {
    format: GgmlType,
    m: u8,
    warps: u8,
    rows: u8,
    /// Two weight matrices (gate, up) and `y = silu(gate · x) * (up · x)`.
    gate_up_swiglu: bool,
    /// Stage 16-byte-aligned rows through shared memory (`staging.rs`).
    staged: bool,
    /// Prefetch the start of the block's rows into L2 before waiting on the previous grid.
    l2_prefetch: bool,
    /// Independent one-warp bodies per block: warp `w` of block `c` computes row group
    /// `c * warp_groups + w` exactly as a one-warp block would (fewer, larger blocks; the
    /// same arithmetic).
    warp_groups: u8,
    /// Blocks of the first wave (`ctaid` below `sm_count × blocks_per_sm`) load their first
    /// K-loop trip's weights before `griddepcontrol.wait`: weights never depend on the
    /// previous kernel, so blocks that start while the previous grid drains have their first
    /// loads in flight when it completes. Later blocks wait first (more blocks on the early
    /// path measured slower). Results are bit-identical.
    early_weights: Option<Residency>,
    body: Body,
    target: SmTarget,
}

/// Which kernel body computes a variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Body {
    /// The dp4a (float formats: f32) body of this file.
    Dp4a,
    /// `tensor_core/`: 16-row tiles, one mma per sub-block.
    TensorCores,
    /// `whole_block.rs`: one lane per row and super-block slice, whole super-blocks per lane,
    /// `stages` shared-memory stages per warp; with a `residency`, only as many blocks as fit
    /// the device at once, each looping over row groups.
    WholeBlocks {
        slices: u8,
        stages: u8,
        residency: Option<Residency>,
    },
    /// `streamed.rs`: the dp4a body in persistent blocks whose weights arrive by bulk copies,
    /// `stages` trips of `visits` visits ahead.
    Streamed {
        stages: u8,
        visits: u8,
        residency: Residency,
    },
}

/// How many blocks of a persistent variant run at once: `blocks_per_sm` (also the register
/// budget ptxas is given, `.minnctapersm`) on each of `sm_count` multiprocessors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Residency {
    sm_count: u16,
    blocks_per_sm: u8,
}

impl Residency {
    fn new(sm_count: u32, blocks_per_sm: u8) -> Result<Self, KernelError> {
        match u16::try_from(sm_count) {
            Ok(sm_count) if sm_count > 0 && (1..=32).contains(&blocks_per_sm) => Ok(Residency {
                sm_count,
                blocks_per_sm,
            }),
            _ => Err(KernelError::InvalidVariant {
                family: "gemv",
                reason: format!(
                    "{sm_count} SMs × {blocks_per_sm} blocks: need 1..=65535 SMs and 1..=32 \
                     blocks per SM"
                ),
            }),
        }
    }

    /// Blocks resident at once.
    fn blocks(self) -> u32 {
        u32::from(self.sm_count) * u32::from(self.blocks_per_sm)
    }
}

/// What fixes the float arithmetic of an output: two variants of one format with equal
/// `Arithmetic` give bit-identical columns (batch invariance across bodies and M).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arithmetic {
    /// The dp4a body with `warps` warps per block (which fix the blocks a thread visits and
    /// the cross-warp sum).
    Dp4aThreads { warps: u8 },
    /// MMQ-order super-block terms chained per slice (super-blocks `s, s + slices, …`), the
    /// slices added in order: the tensor-core body with `slices` warps and the whole-block
    /// body with `slices` slices.
    SuperBlockSlices { slices: u8 },
}

/// Bytes of its rows one block asks L2 to prefetch before `griddepcontrol.wait`, split evenly
/// over its weight rows: enough to cover the first visits while the previous kernel drains,
/// little enough that every resident block's prefetch fits L2 together.
const L2_PREFETCH_BYTES_PER_BLOCK: u32 = 8192;

impl Gemv {
    /// A variant for `format` weights, `m` columns (1..=8), `warps` ∈ {1, 2, 4, 8} per block and
    /// `rows` ∈ 1..=4 output rows per block.
    pub fn new(
        format: GgmlType,
        m: u8,
        warps: u8,
        rows: u8,
        target: SmTarget,
    ) -> Result<Self, KernelError> {
        let imp = format_for(format).ok_or(KernelError::UnsupportedFormat {
            family: "gemv",
            format,
        })?;
        if !(1..=MAX_M).contains(&m) {
            return Err(invalid(format!("m = {m} outside 1..={MAX_M}")));
        }
        if ![1, 2, 4, 8].contains(&warps) {
            return Err(invalid(format!("warps = {warps} not in {{1, 2, 4, 8}}")));
        }
        if !(1..=4).contains(&rows) {
            return Err(invalid(format!("rows = {rows} outside 1..=4")));
        }
        let threads_per_block = imp.qi() / imp.vdr();
        if !threads_per_block.is_power_of_two() || threads_per_block > WARP {
            return Err(invalid(format!(
                "{format}: qi/vdr = {threads_per_block} not a power of two ≤ 32"
            )));
        }
        Ok(Gemv {
            format,
            m,
            warps,
            rows,
            gate_up_swiglu: false,
            staged: false,
            l2_prefetch: false,
            warp_groups: 1,
            early_weights: None,
            body: Body::Dp4a,
            target,
        })
    }

    /// The tensor-core variant (`tensor_core/`) for a format with an [`MmaFormat`]: one block
    /// of `warps` ∈ {1, 2, 4, 8} warps per 16-row tile (as many as the shared-memory stages of
    /// the fused variant allow), `m` columns (1..=8). Never staged through the dp4a body's
    /// tiles or L2-prefetched.
    pub fn tensor_core(
        format: GgmlType,
        m: u8,
        warps: u8,
        target: SmTarget,
    ) -> Result<Self, KernelError> {
        require_mma_format(format, "gemv (tensor cores)")?;
        if let Some(reason) = tensor_core::unsupported_geometry(format, warps) {
            return Err(KernelError::InvalidVariant {
                family: "gemv",
                reason,
            });
        }
        Gemv::new(format, m, warps, 1, target).map(|g| Gemv {
            rows: TILE_ROWS as u8,
            body: Body::TensorCores,
            ..g
        })
    }

    /// The whole-block variant (`whole_block.rs`) for a format with an [`MmaFormat`]: each
    /// lane dots whole super-blocks of one row; `slices` ∈ {1, 2, 4, 8} slices of each row's
    /// super-blocks are spread over `warps` ∈ {1, 2, 4, 8} warps (at most `slices`) and
    /// `slices / warps` lanes, so a block has `32 * warps / slices` rows; `stages` ∈ {1, 2, 3}
    /// shared-memory stages per warp, `m` columns (1..=8). Its columns are bit-identical to
    /// those of [`Gemv::tensor_core`] with `slices` warps.
    pub fn whole_blocks(
        format: GgmlType,
        m: u8,
        slices: u8,
        warps: u8,
        stages: u8,
        target: SmTarget,
    ) -> Result<Self, KernelError> {
        require_mma_format(format, "gemv (whole blocks)")?;
        if ![1, 2, 4, 8].contains(&slices) {
            return Err(invalid(format!("slices = {slices} not in {{1, 2, 4, 8}}")));
        }
        if !(1..=3).contains(&stages) {
            return Err(invalid(format!("stages = {stages} outside 1..=3")));
        }
        if warps > slices {
            return Err(invalid(format!("{warps} warps for {slices} slices")));
        }
        let rows = u32::from(warps) * WARP / u32::from(slices);
        let g = Gemv::new(format, m, warps, 1, target)?;
        let g = Gemv {
            rows: rows as u8,
            body: Body::WholeBlocks {
                slices,
                stages,
                residency: None,
            },
            ..g
        };
        if let Some(reason) = whole_block::unsupported_geometry(&g) {
            return Err(invalid(reason));
        }
        Ok(g)
    }

    /// The same whole-block variant launched persistently: at most `blocks_per_sm` (1..=32)
    /// blocks on each of `sm_count` multiprocessors, each looping over row groups with its
    /// copies in flight across them, and ptxas held to the registers that let
    /// `blocks_per_sm` blocks fit. Results are bit-identical; other bodies are unchanged.
    pub fn persistent(self, sm_count: u32, blocks_per_sm: u8) -> Result<Self, KernelError> {
        let Body::WholeBlocks { slices, stages, .. } = self.body else {
            return Ok(self);
        };
        Ok(Gemv {
            body: Body::WholeBlocks {
                slices,
                stages,
                residency: Some(Residency::new(sm_count, blocks_per_sm)?),
            },
            ..self
        })
    }

    /// The same dp4a variant in persistent blocks (at most `blocks_per_sm` on each of
    /// `sm_count` multiprocessors) whose weights arrive in shared memory by bulk copies,
    /// `stages` (1..=8) K-loop trips of `visits` (1..=4) visits requested ahead
    /// (`streamed.rs`); sm_90, formats that read weights from shared memory, stages within
    /// 48 KiB. Replaces staging, warp groups, the L2 prefetch and early weights; results are
    /// bit-identical.
    pub fn streamed(
        self,
        sm_count: u32,
        blocks_per_sm: u8,
        stages: u8,
        visits: u8,
    ) -> Result<Self, KernelError> {
        if self.body != Body::Dp4a {
            return Err(invalid("only the dp4a body streams".into()));
        }
        let residency = Residency::new(sm_count, blocks_per_sm)?;
        let g = Gemv {
            staged: false,
            l2_prefetch: false,
            warp_groups: 1,
            early_weights: None,
            ..self
        };
        if let Some(reason) = streamed::unsupported(&g, u32::from(stages), u32::from(visits)) {
            return Err(invalid(reason));
        }
        Ok(Gemv {
            body: Body::Streamed {
                stages,
                visits,
                residency,
            },
            ..g
        })
    }

    /// The dp4a variant this one streams (see [`Gemv::streamed`]); unchanged otherwise.
    pub fn not_streamed(self) -> Self {
        match self.body {
            Body::Streamed { .. } => Gemv {
                body: Body::Dp4a,
                ..self
            },
            _ => self,
        }
    }

    /// True for the streamed body (see [`Gemv::streamed`]).
    pub fn streams_weights(&self) -> bool {
        matches!(self.body, Body::Streamed { .. })
    }

    /// True for the tensor-core body (see [`Gemv::tensor_core`]).
    pub fn uses_tensor_cores(&self) -> bool {
        self.body == Body::TensorCores
    }

    /// True for the whole-block body (see [`Gemv::whole_blocks`]).
    pub fn uses_whole_blocks(&self) -> bool {
        matches!(self.body, Body::WholeBlocks { .. })
    }

    /// What fixes this variant's float arithmetic (see [`Arithmetic`]).
    pub fn arithmetic(&self) -> Arithmetic {
        match self.body {
            Body::Dp4a | Body::Streamed { .. } => Arithmetic::Dp4aThreads { warps: self.warps },
            Body::TensorCores => Arithmetic::SuperBlockSlices { slices: self.warps },
            Body::WholeBlocks { slices, .. } => Arithmetic::SuperBlockSlices { slices },
        }
    }

    /// The same variant computing `y = silu(W_gate · x) * (W_up · x)` from two weight matrices,
    /// with this variant's body, geometry, staging (where the two-matrix tile fits) and
    /// prefetch, so each output's arithmetic is the unfused variant's.
    /// A whole-block variant keeps as many of its stages as the two matrices' fit.
    pub fn with_gate_up_swiglu(self) -> Self {
        let mut fused = Gemv {
            gate_up_swiglu: true,
            staged: false,
            ..self
        };
        while let Body::WholeBlocks {
            slices,
            stages: stages @ 2..,
            residency,
        } = fused.body
        {
            if whole_block::shared_bytes_needed(&fused) <= whole_block::SHARED_BYTES {
                break;
            }
            fused.body = Body::WholeBlocks {
                slices,
                stages: stages - 1,
                residency,
            };
        }
        if let Body::Streamed {
            stages,
            visits,
            residency,
        } = fused.body
        {
            fused.body = (1..=stages)
                .rev()
                .find(|&s| streamed::unsupported(&fused, u32::from(s), u32::from(visits)).is_none())
                .map_or(Body::Dp4a, |stages| Body::Streamed {
                    stages,
                    visits,
                    residency,
                });
        }
        if self.staged { fused.staged() } else { fused }
    }

    /// The same variant staging 16-byte-aligned rows through shared memory (`staging.rs`)
    /// where the format supports it and a tile fits the geometry; unchanged otherwise.
    /// Results are bit-identical to the unstaged variant's.
    pub fn staged(self) -> Self {
        Gemv {
            staged: self.early_weights.is_none()
                && self.warp_groups == 1
                && self.staging_tile().is_some(),
            ..self
        }
    }

    /// The same variant without staging: every thread reads its weights from global memory.
    pub fn unstaged(self) -> Self {
        Gemv {
            staged: false,
            ..self
        }
    }

    /// The same variant asking L2 to prefetch the start of its rows (at most
    /// `L2_PREFETCH_BYTES_PER_BLOCK` per block) before it waits on the previous grid, so a
    /// dependent launch streams weights while the kernel before it drains. sm_90+ (bulk
    /// prefetch); unchanged on older targets. A hint: results are bit-identical.
    pub fn l2_prefetched(self) -> Self {
        Gemv {
            l2_prefetch: self.target.has_bulk_prefetch() && self.body == Body::Dp4a,
            ..self
        }
    }

    /// The same one-warp dp4a variant with `groups` ∈ {1, 2, 4, 8} independent warps per block
    /// (see `warp_groups`), unstaged. Results are bit-identical.
    pub fn with_warp_groups(self, groups: u8) -> Result<Self, KernelError> {
        if ![1, 2, 4, 8].contains(&groups) {
            return Err(invalid(format!(
                "{groups} warp groups not in {{1, 2, 4, 8}}"
            )));
        }
        if groups > 1 && (self.body != Body::Dp4a || self.warps != 1 || self.staged) {
            return Err(invalid(
                "warp groups need the unstaged one-warp dp4a body".into(),
            ));
        }
        Ok(Gemv {
            warp_groups: groups,
            ..self
        })
    }

    /// Independent one-warp bodies per block (see [`Gemv::with_warp_groups`]).
    pub fn warp_groups(&self) -> u8 {
        self.warp_groups
    }

    /// The same variant without the L2 prefetch.
    pub fn not_l2_prefetched(self) -> Self {
        Gemv {
            l2_prefetch: false,
            ..self
        }
    }

    /// The same variant whose first `sm_count × blocks_per_sm` blocks load their first K-loop
    /// trip's weights before they wait on the previous grid (see `early_weights`); the
    /// unstaged dp4a body on sm_90+ only, unchanged otherwise. Results are bit-identical.
    pub fn weights_before_wait(
        self,
        sm_count: u32,
        blocks_per_sm: u8,
    ) -> Result<Self, KernelError> {
        if self.body != Body::Dp4a || self.staged || !self.target.has_griddepcontrol() {
            return Ok(self);
        }
        Ok(Gemv {
            early_weights: Some(Residency::new(sm_count, blocks_per_sm)?),
            ..self
        })
    }

    /// The same variant with every block waiting on the previous grid before its first load.
    pub fn without_early_weights(self) -> Self {
        Gemv {
            early_weights: None,
            ..self
        }
    }

    /// True when first-wave blocks load weights before `griddepcontrol.wait` (see
    /// [`Gemv::weights_before_wait`]).
    pub fn loads_weights_before_wait(&self) -> bool {
        self.early_weights.is_some()
    }

    /// Elements of K per weight block as the kernel reads it (K is a multiple of it): the
    /// format's block, four for the float formats.
    pub fn k_per_block(&self) -> u32 {
        self.imp().qk()
    }

    /// Weight blocks of a row that one K-loop visit of the dp4a body's block covers.
    pub fn blocks_per_visit(&self) -> u32 {
        let imp = self.imp();
        imp.vdr() * u32::from(self.warps) * WARP / imp.qi()
    }

    /// True when the block prefetches its rows into L2 (see [`Gemv::l2_prefetched`]).
    pub fn prefetches_l2(&self) -> bool {
        self.l2_prefetch
    }

    /// True when aligned rows go through shared memory (see [`Gemv::staged`]).
    pub fn stages_weights(&self) -> bool {
        self.staged
    }

    /// The staging tile for this format and geometry, if the format stages its weights.
    fn staging_tile(&self) -> Option<Tile> {
        let imp = self.imp();
        if !imp.stages_weights() || self.body != Body::Dp4a {
            return None;
        }
        let threads = u32::from(self.warps) * WARP;
        let blocks_per_iter = self.blocks_per_visit();
        let matrices = if self.gate_up_swiglu { 2 } else { 1 };
        let w_rows = u32::from(self.rows) * matrices;
        Tile::plan(imp.block_bytes(), blocks_per_iter, threads, w_rows)
    }

    /// The fused gate/up/SwiGLU variant: `y = silu(W_gate · x) * (W_up · x)`, with the
    /// constraints of [`Gemv::new`].
    pub fn gate_up_swiglu(
        format: GgmlType,
        m: u8,
        warps: u8,
        rows: u8,
        target: SmTarget,
    ) -> Result<Self, KernelError> {
        Gemv::new(format, m, warps, rows, target).map(|g| Gemv {
            gate_up_swiglu: true,
            ..g
        })
    }

    /// True for the fused gate/up/SwiGLU variant.
    pub fn is_gate_up_swiglu(&self) -> bool {
        self.gate_up_swiglu
    }

    /// The argument layout: `PARAMS` or `PARAMS_GATE_UP`.
    pub fn params(&self) -> &'static [Param] {
        if self.gate_up_swiglu {
            PARAMS_GATE_UP
        } else {
            PARAMS
        }
    }

    pub fn format(&self) -> GgmlType {
        self.format
    }

    pub fn m(&self) -> u8 {
        self.m
    }

    pub fn warps(&self) -> u8 {
        self.warps
    }

    pub fn rows(&self) -> u8 {
        self.rows
    }

    pub fn target(&self) -> SmTarget {
        self.target
    }

    pub(crate) fn with_target(self, target: SmTarget) -> Self {
        Gemv { target, ..self }
    }

    /// `gemv_<format>_m<M>_w<warps>_r<rows>`, e.g. `gemv_q8_0_m1_w4_r1`; the fused variant is
    /// `gemv_gate_up_swiglu_<format>_…`, a staged one ends in `_st`, an L2-prefetching one in
    /// `_pf`, one whose first wave loads weights before the grid wait in `_ew<blocks per SM>`,
    /// a tensor-core one in `_tc`, a whole-block one in `_wb<slices>x<stages>`, a streamed one
    /// in `_bulk<stages>x<visits>_b<blocks per SM>`.
    pub fn entry_name(&self) -> String {
        let body = match self.body {
            Body::Dp4a => String::new(),
            Body::TensorCores => "_tc".into(),
            Body::WholeBlocks {
                slices,
                stages,
                residency,
            } => match residency {
                None => format!("_wb{slices}x{stages}"),
                Some(r) => format!("_wb{slices}x{stages}_b{}", r.blocks_per_sm),
            },
            Body::Streamed {
                stages,
                visits,
                residency,
            } => format!("_bulk{stages}x{visits}_b{}", residency.blocks_per_sm),
        };
        format!(
            "gemv_{}{}_m{}_w{}_r{}{}{}{}{}{}",
            if self.gate_up_swiglu {
                "gate_up_swiglu_"
            } else {
                ""
            },
            self.format.name().to_ascii_lowercase(),
            self.m,
            self.warps,
            self.rows,
            if self.staged { "_st" } else { "" },
            if self.warp_groups > 1 {
                format!("_g{}", self.warp_groups)
            } else {
                String::new()
            },
            if self.l2_prefetch { "_pf" } else { "" },
            self.early_weights
                .map_or(String::new(), |r| format!("_ew{}", r.blocks_per_sm)),
            body
        )
    }

    fn imp(&self) -> &'static dyn GemvFormat {
        format_for(self.format).expect("Gemv::new admits only formats with an implementation")
    }

    pub(crate) fn launch(&self, dims: &LaunchDims) -> Result<LaunchGeometry, String> {
        let imp = self.imp();
        let qk = imp.qk();
        if dims.k == 0 || !dims.k.is_multiple_of(qk) {
            return Err(format!(
                "k must be a positive multiple of the {} block size {qk}",
                self.format
            ));
        }
        if dims.n == 0 {
            return Err("n must be positive".into());
        }
        if dims.m != u32::from(self.m) {
            return Err(format!("m must equal the variant's M = {}", self.m));
        }
        let row_bytes = u64::from(dims.k / qk) * u64::from(imp.block_bytes());
        let x_bytes = u64::from(dims.k / qk) * u64::from(imp.act_block_bytes()) * u64::from(dims.m);
        if row_bytes > u64::from(u32::MAX) || x_bytes > u64::from(u32::MAX) {
            return Err("a weight row or the activations exceed 4 GiB".into());
        }
        if u64::from(dims.n) * u64::from(dims.m) > u64::from(u32::MAX) {
            return Err("n*m overflows u32".into());
        }
        let groups = div_ceil(dims.n, u32::from(self.rows));
        let grid = match self.body {
            Body::WholeBlocks {
                residency: Some(r), ..
            }
            | Body::Streamed { residency: r, .. } => groups.min(r.blocks()),
            _ => div_ceil(groups, u32::from(self.warp_groups)),
        };
        Ok(LaunchGeometry {
            grid: [grid, 1, 1],
            block: [u32::from(self.warps * self.warp_groups) * WARP, 1, 1],
            dynamic_shared_bytes: 0,
        })
    }
}

/// The error of a gemv constructor that rejects its arguments.
fn invalid(reason: String) -> KernelError {
    KernelError::InvalidVariant {
        family: "gemv",
        reason,
    }
}

/// [`KernelError::UnsupportedFormat`] for `family` unless `format` has an [`MmaFormat`].
fn require_mma_format(format: GgmlType, family: &'static str) -> Result<(), KernelError> {
    match mma_format_for(format) {
        Some(_) => Ok(()),
        None => Err(KernelError::UnsupportedFormat { family, format }),
    }
}

/// Weight formats with a gemv implementation, in GGML id order.
pub fn formats() -> Vec<GgmlType> {
    GgmlType::ALL
        .into_iter()
        .filter(|t| format_for(*t).is_some())
        .collect()
}

/// The `(warps, rows)` used for `format` at every M.
pub fn default_geometry(format: GgmlType) -> (u8, u8) {
    format_for(format).map_or((4, 1), |f| f.default_geometry())
}

pub fn build(name: &str, g: &Gemv) -> Kernel {
    match g.body {
        Body::Dp4a => {}
        Body::TensorCores => return tensor_core::build(name, g),
        Body::WholeBlocks {
            slices,
            stages,
            residency,
        } => {
            return whole_block::build(name, g, u32::from(slices), u32::from(stages), residency);
        }
        Body::Streamed {
            stages,
            visits,
            residency,
        } => return streamed::build(name, g, u32::from(stages), u32::from(visits), residency),
    }
    let imp = g.imp();
    let (m, rows, warps) = (usize::from(g.m), u32::from(g.rows), u32::from(g.warps));
    let qk = imp.qk();
    let block_bytes = imp.block_bytes();
    let threads = warps * WARP;
    let blocks_per_iter = g.blocks_per_visit();

    let (mut b, args) = begin_kernel(name, g, threads * u32::from(g.warp_groups));
    let GemvArgs {
        weights,
        x,
        y,
        n,
        k,
    } = args;

    let tid = b.mov(Ty::U32, Special::TidX);
    let ctaid = b.mov(Ty::U32, Special::CtaidX);
    // With warp groups each warp is a one-warp body of its own: `tid` its lane, `group` its
    // row group.
    let (tid, group) = if g.warp_groups > 1 {
        let lane = b.and(Ty::U32, tid, WARP - 1);
        let warp = b.shr(Ty::U32, tid, WARP.trailing_zeros());
        let group = b.mad_lo(Ty::U32, ctaid, u32::from(g.warp_groups), warp);
        (lane, group)
    } else {
        (tid, ctaid)
    };
    let row0 = b.mul(Ty::U32, group, rows);
    let blocks_per_row = b.shr(Ty::U32, k, qk.trailing_zeros());
    let row_bytes = b.mul(Ty::U32, blocks_per_row, block_bytes);
    let last_row = b.sub(Ty::U32, n, 1u32);

    // Rows past n (last block) read row n-1 and are not stored. Matrix-major:
    // w_rows[mat * rows + i].
    let row_offsets: Vec<Reg> = (0..rows)
        .map(|i| {
            let row = b.add(Ty::U32, row0, i);
            let row = b.min(Ty::U32, row, last_row);
            b.mul_wide(Ty::U32, row, row_bytes)
        })
        .collect();
    let w_rows: Vec<Reg> = weights
        .iter()
        .flat_map(|&w| row_offsets.iter().map(move |&off| (w, off)))
        .map(|(w, off)| b.add(Ty::U64, w, off))
        .collect();
    let dots = ThreadDots::new(&mut b, imp, x, k, m as u32, tid, w_rows.len());
    let kbx = dots.block_in_visit;
    let acc = &dots.acc;

    if g.l2_prefetch {
        emit_l2_prefetch(&mut b, tid, &w_rows, row_bytes);
    }
    // Each row's weights are decoded once per visit, each column's activations loaded once,
    // then every (row, column) partial is added in row-major order. Every path below adds an
    // accumulator's partials in kbx order, so a column's result does not depend on M.
    let load_weights = |b: &mut KernelBuilder, kbx: Reg| -> Vec<Vec<Reg>> {
        let w_blocks: Vec<Reg> = w_rows
            .iter()
            .map(|&w_row| b.index_addr(w_row, kbx, block_bytes))
            .collect();
        dots.decode(b, &w_blocks, WeightSource::Global)
    };
    let add_dots =
        |b: &mut KernelBuilder, kbx: Reg, weights: &[Vec<Reg>]| dots.add_dots(b, kbx, weights);
    let accumulate = |b: &mut KernelBuilder, kbx: Reg| {
        let weights = load_weights(b, kbx);
        add_dots(b, kbx, &weights);
    };
    // The K loop is unrolled twice when the accumulators leave registers for it (ptxas
    // spills the fused M = 8 two-row Q4_K otherwise), so both visits' loads are in flight
    // before their dots (`emit_visits`).
    let unrolled = m * w_rows.len() <= imp.max_unrolled_accumulators();
    let loop_end = b.label("kbx_done");
    let kernel_end = g.early_weights.map(|_| b.label("kernel_end"));
    if let (Some(first_wave), Some(kernel_end)) = (g.early_weights, &kernel_end) {
        // The first trip's visits, when the block is in the first wave and all of them
        // exist, with their weights loaded first.
        let wait_only = b.label("wait_only");
        let ctaid = b.mov(Ty::U32, Special::CtaidX);
        let later = b.setp(Cmp::Ge, Ty::U32, ctaid, first_wave.blocks());
        b.bra_if(later, false, &wait_only);
        let ahead = if unrolled { 2 } else { 1 };
        let last_ahead = b.add(Ty::U32, kbx, (ahead - 1) * blocks_per_iter);
        let short = b.setp(Cmp::Ge, Ty::U32, last_ahead, blocks_per_row);
        b.bra_if(short, false, &wait_only);
        let visits: Vec<(Reg, Vec<Vec<Reg>>)> = (0..ahead)
            .map(|v| {
                let visit = b.add(Ty::U32, kbx, v * blocks_per_iter);
                (visit, load_weights(&mut b, visit))
            })
            .collect();
        // ptxas hoists `griddepcontrol.wait` above the loads of its own basic block, so the
        // loads end one: a branch on `n = 0` (never taken; the launch rejects it).
        let no_rows = b.setp(Cmp::Eq, Ty::U32, n, 0u32);
        b.bra_if(no_rows, false, kernel_end);
        // `launch_dependents` after the wait, as on the other path: before it, the next grid
        // may launch while this one still waits on its predecessor (measured slower).
        b.griddep_wait();
        b.griddep_launch_dependents();
        for (visit, weights) in &visits {
            add_dots(&mut b, *visit, weights);
        }
        let next = b.add(Ty::U32, kbx, ahead * blocks_per_iter);
        b.mov_to(kbx, next);
        let loop_entry = b.label("kbx_loop");
        b.bra(&loop_entry);
        b.place(&wait_only);
        b.griddep_wait();
        b.griddep_launch_dependents();
        b.place(&loop_entry);
    } else {
        b.griddep_wait();
        b.griddep_launch_dependents();
    }
    if let Some(tile) = g.staged.then(|| g.staging_tile()).flatten() {
        // Stage only when every row starts 16-byte aligned.
        let low = row_misalignment(&mut b, &weights, row_bytes);
        let unaligned = b.setp(Cmp::Ne, Ty::U32, low, 0u32);
        let unstaged = b.label("unstaged");
        b.bra_if(unaligned, false, &unstaged);
        StagedLoop {
            tile,
            threads,
            tid,
            w_rows: &w_rows,
            row_bytes,
            blocks_per_row,
            blocks_per_iter,
            block_bytes,
            block_in_iter: kbx,
        }
        .emit(&mut b, &mut |b, kbx, w_blocks| {
            let weights = dots.decode(b, w_blocks, WeightSource::Shared);
            dots.add_dots(b, kbx, &weights)
        });
        b.bra(&loop_end);
        b.place(&unstaged);
    }
    emit_visits(
        &mut b,
        kbx,
        blocks_per_row,
        blocks_per_iter,
        unrolled,
        &loop_end,
        &accumulate,
    );
    b.place(&loop_end);

    store_rows(&mut b, g, acc, tid, y, n, row0, None);
    if let Some(kernel_end) = &kernel_end {
        b.place(kernel_end);
    }
    b.ret();
    b.finish()
}

/// The K loop from visit `kbx` (advanced in place) to `blocks_per_row`, a visit every
/// `blocks_per_iter` blocks, then on to `loop_end`: with `unrolled`, `kbx_pair` takes visits
/// kbx and kbx + step while both exist and `kbx_last` a lone last one; otherwise one visit per
/// trip. `accumulate(b, kbx)` adds one visit's dots.
fn emit_visits(
    b: &mut KernelBuilder,
    kbx: Reg,
    blocks_per_row: Reg,
    blocks_per_iter: u32,
    unrolled: bool,
    loop_end: &Label,
    accumulate: &dyn Fn(&mut KernelBuilder, Reg),
) {
    let loop_top = b.label("kbx_pair");
    let last = b.label("kbx_last");
    let nothing = b.setp(Cmp::Ge, Ty::U32, kbx, blocks_per_row);
    b.bra_if(nothing, false, loop_end);
    b.place(&loop_top);
    if unrolled {
        let second = b.add(Ty::U32, kbx, blocks_per_iter);
        let only_one = b.setp(Cmp::Ge, Ty::U32, second, blocks_per_row);
        b.bra_if(only_one, false, &last);
        accumulate(b, kbx);
        accumulate(b, second);
        let next = b.add(Ty::U32, second, blocks_per_iter);
        b.mov_to(kbx, next);
        let more = b.setp(Cmp::Lt, Ty::U32, kbx, blocks_per_row);
        b.bra_if(more, false, &loop_top);
        b.bra(loop_end);
        b.place(&last);
        accumulate(b, kbx);
    } else {
        accumulate(b, kbx);
        let next = b.add(Ty::U32, kbx, blocks_per_iter);
        b.mov_to(kbx, next);
        let more = b.setp(Cmp::Lt, Ty::U32, kbx, blocks_per_row);
        b.bra_if(more, false, &loop_top);
    }
}

/// Sums each partial of `acc` (`[m][w_rows]`) over the block — across warps in warp order,
/// then over the warp's lanes — and lane 0 of warp 0 stores rows `row0 .. row0 + rows` of
/// every column (gate/up: `silu(gate) * up`). Warps other than warp 0 leave once their
/// partials are in shared memory: they branch to `others` when given, else exit.
#[allow(clippy::too_many_arguments)]
pub(super) fn store_rows(
    b: &mut KernelBuilder,
    g: &Gemv,
    acc: &[Vec<Reg>],
    tid: Reg,
    y: Reg,
    n: Reg,
    row0: Reg,
    others: Option<&Label>,
) {
    let rows = usize::from(g.rows);
    let lane = b.and(Ty::U32, tid, WARP - 1);
    let totals = if g.warps > 1 {
        combine_warps(b, acc, tid, lane, u32::from(g.warps), others)
    } else {
        acc.to_vec()
    };
    let is_lane0 = b.setp(Cmp::Eq, Ty::U32, lane, 0u32);
    for (j, col) in totals.iter().enumerate() {
        let sums: Vec<Reg> = col
            .iter()
            .map(|&partial| warp_sum(b, Ty::F32, partial))
            .collect();
        for i in 0..rows {
            let total = if g.gate_up_swiglu {
                silu_times(b, sums[i], sums[rows + i])
            } else {
                sums[i]
            };
            let row = b.add(Ty::U32, row0, i as u32);
            store_output(b, y, n, row, j as u32, is_lane0, total);
        }
    }
}

/// `y[col * n + row] = value` (y f32 `[m, n]`) when `row < n` and `also` holds.
pub(super) fn store_output(
    b: &mut KernelBuilder,
    y: Reg,
    n: Reg,
    row: Reg,
    col: impl Into<Operand>,
    also: Reg,
    value: Reg,
) {
    let in_range = b.setp(Cmp::Lt, Ty::U32, row, n);
    let store = b.reg(crate::builder::RegClass::Pred);
    b.inst(format!("and.pred {store}, {in_range}, {also}"));
    let index = b.mad_lo(Ty::U32, n, col, row);
    let addr = b.index_addr(y, index, 4);
    b.predicated(store, false, |b| {
        b.st(Space::Global, Ty::F32, Addr::reg(addr), value)
    });
}

/// The low four bits of every weight matrix's base and of `row_bytes` together (u32): zero
/// exactly when every row of every matrix starts 16-byte aligned.
pub(super) fn row_misalignment(b: &mut KernelBuilder, weights: &[Reg], row_bytes: Reg) -> Reg {
    let mut any = b.cvt(Ty::U64, Ty::U32, None, row_bytes);
    for &w in weights {
        any = b.or(Ty::B64, any, w);
    }
    let low = b.cvt(Ty::U32, Ty::U64, None, any);
    b.and(Ty::U32, low, 15u32)
}

/// The kernel arguments in `Gemv::params` order.
pub(super) struct GemvArgs {
    /// One base address per weight matrix: `[w]` or `[w_gate, w_up]`.
    pub weights: Vec<Reg>,
    pub x: Reg,
    pub y: Reg,
    pub n: Reg,
    pub k: Reg,
}

/// A builder for `g`'s entry `name` with `threads` per block (`.minnctapersm 1`) and its
/// parameters declared.
pub(super) fn begin_kernel(name: &str, g: &Gemv, threads: u32) -> (KernelBuilder, GemvArgs) {
    let mut b = KernelBuilder::new(name, g.target);
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
    (
        b,
        GemvArgs {
            weights,
            x,
            y,
            n,
            k,
        },
    )
}

/// Thread `i` asks L2 for the first `L2_PREFETCH_BYTES_PER_BLOCK / w_rows.len()` bytes of row
/// `i` (clipped to the row, ends rounded down to 16 bytes so it stays inside the row).
/// Weights are never written by a kernel, so this may run before `griddepcontrol.wait`.
fn emit_l2_prefetch(b: &mut KernelBuilder, tid: Reg, w_rows: &[Reg], row_bytes: Reg) {
    let per_row = (L2_PREFETCH_BYTES_PER_BLOCK / w_rows.len() as u32) & !15;
    let wanted = b.min(Ty::U32, row_bytes, per_row);
    for (i, &w_row) in w_rows.iter().enumerate() {
        let start = b.and(Ty::B64, w_row, !15u64);
        let end = b.add_offset(w_row, wanted);
        let end = b.and(Ty::B64, end, !15u64);
        let size = b.sub(Ty::U64, end, start);
        let size = b.cvt(Ty::U32, Ty::U64, None, size);
        let mine = b.setp(Cmp::Eq, Ty::U32, tid, i as u32);
        let enough = b.setp(Cmp::Ge, Ty::U32, size, 16u32);
        let go = b.reg(crate::builder::RegClass::Pred);
        b.inst(format!("and.pred {go}, {mine}, {enough}"));
        b.predicated(go, false, |b| b.prefetch_l2_bulk(start, size));
    }
}

/// `silu(gate) * up` with `silu(g) = g / (1 + e^-g)`, `e^-g = 2^(-g log2 e)`, as the `swiglu_f32`
/// kernel computes it.
pub(super) fn silu_times(b: &mut KernelBuilder, gate: Reg, up: Reg) -> Reg {
    let t = b.mul(Ty::F32, gate, -std::f32::consts::LOG2_E);
    let e = b.float_unary(FloatUnary::Ex2Approx, Ty::F32, t);
    let denom = b.add(Ty::F32, e, 1.0f32);
    let silu = b.div(Ty::F32, gate, denom);
    b.mul(Ty::F32, silu, up)
}

/// Warps 1.. write their per-lane partials to shared memory `[warps-1][m][rows][32]` f32; warp 0
/// adds them in warp order and the others branch to `others` (exit when `None`). Returns warp
/// 0's combined partials.
pub(super) fn combine_warps(
    b: &mut KernelBuilder,
    acc: &[Vec<Reg>],
    tid: Reg,
    lane: Reg,
    warps: u32,
    others: Option<&Label>,
) -> Vec<Vec<Reg>> {
    let (m, rows) = (acc.len() as u32, acc[0].len() as u32);
    let slot_bytes = WARP * 4;
    let warp_bytes = m * rows * slot_bytes;
    let tmp = b.shared_array("partials", (warps - 1) * warp_bytes, 16);
    let base = b.shared_base(&tmp);
    let warp = b.shr(Ty::U32, tid, WARP.trailing_zeros());
    let lane_bytes = b.shl(Ty::U32, lane, 2u32);
    let lane_base = b.add(Ty::U32, base, lane_bytes);
    let is_warp0 = b.setp(Cmp::Eq, Ty::U32, warp, 0u32);
    let own_slot = b.mad_lo(Ty::U32, warp, warp_bytes, lane_base);
    b.predicated(is_warp0, true, |b| {
        for (j, col) in acc.iter().enumerate() {
            for (i, &v) in col.iter().enumerate() {
                let off = (j as u32 * rows + i as u32) * slot_bytes;
                // Warp w > 0 writes slot w - 1.
                b.st(
                    Space::Shared,
                    Ty::F32,
                    Addr::reg_off(own_slot, i64::from(off) - i64::from(warp_bytes)),
                    v,
                );
            }
        }
    });
    b.bar_sync(0);
    if let Some(others) = others {
        b.bra_if(is_warp0, true, others);
    }
    let exit = b.label("not_warp0");
    if others.is_none() {
        b.bra_if(is_warp0, true, &exit);
    }
    let combined = acc
        .iter()
        .enumerate()
        .map(|(j, col)| {
            col.iter()
                .enumerate()
                .map(|(i, &v)| {
                    let mut sum = v;
                    for l in 0..warps - 1 {
                        let off = l * warp_bytes + (j as u32 * rows + i as u32) * slot_bytes;
                        let other = b.ld(
                            Space::Shared,
                            Ty::F32,
                            Addr::reg_off(lane_base, i64::from(off)),
                        );
                        sum = b.add(Ty::F32, sum, other);
                    }
                    sum
                })
                .collect()
        })
        .collect();
    if others.is_none() {
        let after = b.label("combined");
        b.bra(&after);
        b.place(&exit);
        b.ret();
        b.place(&after);
    }
    combined
}
