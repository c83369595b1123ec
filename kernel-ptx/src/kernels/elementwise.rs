//! Elementwise f32 kernels over `count = rows * n` values: `add` (out = a + b, the residual
//! add) and `swiglu` (out = silu(gate) * up, silu(g) = g / (1 + e^-g), as ggml's
//! `ggml_vec_swiglu_f32`). One thread per element; plain (coherent) loads, so `out` may alias
//! an input (in-place residual add).

use crate::builder::{Addr, Cmp, FloatUnary, Kernel, KernelBuilder, Space, Ty};
use crate::kernel_type::div_ceil;
use crate::kernels::reduce::global_index;
use crate::{LaunchDims, LaunchGeometry, Param, SmTarget};

const THREADS: u32 = 256;
const LOG2_E: f32 = std::f32::consts::LOG2_E;

/// Which elementwise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elementwise {
    Add,
    Swiglu,
}

pub const PARAMS_ADD: &[Param; 4] = &[
    Param::ptr("a"),
    Param::ptr("b"),
    Param::ptr("out"),
    Param::u32("count"),
];

pub const PARAMS_SWIGLU: &[Param; 4] = &[
    Param::ptr("gate"),
    Param::ptr("up"),
    Param::ptr("out"),
    Param::u32("count"),
];

/// Reads `dims.rows * dims.n` (the `count` argument must equal it).
pub fn launch(dims: &LaunchDims) -> Result<LaunchGeometry, String> {
    let count = dims
        .rows
        .checked_mul(dims.n)
        .ok_or("rows*n overflows u32")?;
    if count == 0 {
        return Err("rows and n must be positive".into());
    }
    Ok(LaunchGeometry {
        grid: [div_ceil(count, THREADS), 1, 1],
        block: [THREADS, 1, 1],
        dynamic_shared_bytes: 0,
    })
}

pub fn build(name: &str, target: SmTarget, op: Elementwise) -> Kernel {
    let params = match op {
        Elementwise::Add => PARAMS_ADD,
        Elementwise::Swiglu => PARAMS_SWIGLU,
    };
    let (mut b, [pa, pb, out, count]) = KernelBuilder::entry(name, target, THREADS, params);
    let i = global_index(&mut b, THREADS);
    let outside = b.setp(Cmp::Ge, Ty::U32, i, count);
    let done = b.label("done");
    b.bra_if(outside, false, &done);
    let aa = b.index_addr(pa, i, 4);
    let ba = b.index_addr(pb, i, 4);
    let va = b.ld(Space::Global, Ty::F32, Addr::reg(aa));
    let vb = b.ld(Space::Global, Ty::F32, Addr::reg(ba));
    let result = match op {
        Elementwise::Add => b.add(Ty::F32, va, vb),
        Elementwise::Swiglu => {
            // e^-g = 2^(-g * log2 e); silu = g / (1 + e^-g).
            let t = b.mul(Ty::F32, va, -LOG2_E);
            let e = b.float_unary(FloatUnary::Ex2Approx, Ty::F32, t);
            let denom = b.add(Ty::F32, e, 1.0f32);
            let silu = b.div(Ty::F32, va, denom);
            b.mul(Ty::F32, silu, vb)
        }
    };
    let oa = b.index_addr(out, i, 4);
    b.st(Space::Global, Ty::F32, Addr::reg(oa), result);
    b.place(&done);
    b.ret();
    b.finish()
}
