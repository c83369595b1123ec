//! Rotary position embedding, in place on `x [tokens, heads, head_dim]` f32.
//! Positions are read from device memory (`pos [tokens]` u32) so a captured graph replays at
//! any position; `inv_freq [head_dim / 2]` f32 holds the per-pair frequencies with any
//! scaling (llama3 `rope_freqs`, linear) already applied on the host.
//!
//! Pair `i` of a head is rotated by `theta = pos * inv_freq[i]`:
//! normal (ggml `rope_norm`, GGUF Llama): elements `(2i, 2i+1)`;
//! NeoX (ggml `rope_neox`, Hugging Face `rotate_half`): elements `(i, i + head_dim/2)`.
//! `out0 = x0 cos - x1 sin`, `out1 = x0 sin + x1 cos` (ggml/src/ggml-cuda/rope.cu).
//! `theta` is reduced to [-pi, pi] (two-constant Cody–Waite) before `sin/cos.approx`.

use crate::builder::{Addr, Cmp, FloatUnary, Kernel, KernelBuilder, Round, Space, Ty};
use crate::kernel_type::div_ceil;
use crate::kernels::reduce::global_index;
use crate::{LaunchDims, LaunchGeometry, Param, SmTarget};

const THREADS: u32 = 256;
/// 2*pi split as `HI + LO` with `HI` the nearest f32.
const TWO_PI_HI: f32 = 6.283_185_5;
const TWO_PI_LO: f32 = -1.748_455_5e-7;

pub const PARAMS: &[Param; 6] = &[
    Param::ptr("x"),
    Param::ptr("pos"),
    Param::ptr("inv_freq"),
    Param::u32("tokens"),
    Param::u32("heads"),
    Param::u32("head_dim"),
];

/// Reads `dims.rows` (tokens), `dims.n` (heads) and `dims.k` (head_dim, even).
pub fn launch(dims: &LaunchDims) -> Result<LaunchGeometry, String> {
    if dims.rows == 0 || dims.n == 0 || dims.k == 0 || !dims.k.is_multiple_of(2) {
        return Err("tokens and heads must be positive and head_dim positive and even".into());
    }
    let pairs = dims
        .rows
        .checked_mul(dims.n)
        .and_then(|v| v.checked_mul(dims.k))
        .ok_or("tokens*heads*head_dim overflows u32")?
        / 2;
    Ok(LaunchGeometry {
        grid: [div_ceil(pairs, THREADS), 1, 1],
        block: [THREADS, 1, 1],
        dynamic_shared_bytes: 0,
    })
}

pub fn build(name: &str, target: SmTarget, neox: bool) -> Kernel {
    let (mut b, [x, pos, inv_freq, tokens, heads, head_dim]) =
        KernelBuilder::entry(name, target, THREADS, PARAMS);

    let gid = global_index(&mut b, THREADS);
    let half = b.shr(Ty::U32, head_dim, 1u32);
    let rows = b.mul(Ty::U32, tokens, heads);
    let pairs = b.mul(Ty::U32, rows, half);
    let outside = b.setp(Cmp::Ge, Ty::U32, gid, pairs);
    let done = b.label("done");
    b.bra_if(outside, false, &done);

    let i = b.rem(Ty::U32, gid, half);
    let head_row = b.div(Ty::U32, gid, half);
    let token = b.div(Ty::U32, head_row, heads);
    let pa = b.index_addr(pos, token, 4);
    let p = b.ld(Space::GlobalNc, Ty::U32, Addr::reg(pa));
    let fa = b.index_addr(inv_freq, i, 4);
    let f = b.ld(Space::GlobalNc, Ty::F32, Addr::reg(fa));
    let p_f = b.cvt(Ty::F32, Ty::U32, Some(Round::Rn), p);
    let theta = b.mul(Ty::F32, p_f, f);
    let turns = b.mul(Ty::F32, theta, 1.0f32 / TWO_PI_HI);
    let turns = b.cvt(Ty::F32, Ty::F32, Some(Round::Rni), turns);
    let neg_turns = b.neg(Ty::F32, turns);
    let r = b.fma(Ty::F32, neg_turns, TWO_PI_HI, theta);
    let r = b.fma(Ty::F32, neg_turns, TWO_PI_LO, r);
    let sin = b.float_unary(FloatUnary::SinApprox, Ty::F32, r);
    let cos = b.float_unary(FloatUnary::CosApprox, Ty::F32, r);

    let row_start = b.mul(Ty::U32, head_row, head_dim);
    let (first, second) = if neox {
        let first = b.add(Ty::U32, row_start, i);
        let second = b.add(Ty::U32, first, half);
        (first, second)
    } else {
        let first = b.mad_lo(Ty::U32, i, 2u32, row_start);
        let second = b.add(Ty::U32, first, 1u32);
        (first, second)
    };
    let a0 = b.index_addr(x, first, 4);
    let a1 = b.index_addr(x, second, 4);
    let x0 = b.ld(Space::Global, Ty::F32, Addr::reg(a0));
    let x1 = b.ld(Space::Global, Ty::F32, Addr::reg(a1));
    let x0c = b.mul(Ty::F32, x0, cos);
    let x1s = b.mul(Ty::F32, x1, sin);
    let out0 = b.sub(Ty::F32, x0c, x1s);
    let x0s = b.mul(Ty::F32, x0, sin);
    let x1c = b.mul(Ty::F32, x1, cos);
    let out1 = b.add(Ty::F32, x0s, x1c);
    b.st(Space::Global, Ty::F32, Addr::reg(a0), out0);
    b.st(Space::Global, Ty::F32, Addr::reg(a1), out1);
    b.place(&done);
    b.ret();
    b.finish()
}
