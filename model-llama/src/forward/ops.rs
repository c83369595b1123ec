//! The operations the transformer needs from a backend. The CPU reference implements them in
//! plain f32; the GPU forward implements the same trait with kernels, and [`super::forward`]
//! drives both.

use super::error::ForwardError;
use super::rope::RopeTable;

/// Head geometry of attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

/// Backend operations over activations of `rows` tokens. Every activation is row-major
/// `[rows, cols]` f32, one row per token; a matrix is a weight as stored, `[n_out, n_in]`.
pub trait ForwardOps {
    /// A weight matrix in its stored format.
    type Matrix;
    /// An f32 parameter vector (norm weight, bias).
    type Vector;
    /// An activation buffer `[rows, cols]` f32.
    type Act;
    /// Keys and values of past positions, per layer.
    type KvCache;
    type Error: From<ForwardError>;

    /// A buffer of `rows × cols` (contents unspecified).
    fn alloc(&mut self, rows: usize, cols: usize) -> Result<Self::Act, Self::Error>;

    /// `out[t] = table[tokens[t]]`; `table` `[vocab, hidden]`, `out` `[tokens.len(), hidden]`.
    fn embed(
        &mut self,
        table: &Self::Matrix,
        tokens: &[u32],
        out: &mut Self::Act,
    ) -> Result<(), Self::Error>;

    /// `out[t] = x[t] / sqrt(mean(x[t]²) + eps) * weight`.
    fn rms_norm(
        &mut self,
        x: &Self::Act,
        weight: &Self::Vector,
        eps: f32,
        out: &mut Self::Act,
    ) -> Result<(), Self::Error>;

    /// `out[t] = w · x[t]`; `w` `[n_out, n_in]`, `x` `[rows, n_in]`, `out` `[rows, n_out]`.
    fn matmul(
        &mut self,
        w: &Self::Matrix,
        x: &Self::Act,
        out: &mut Self::Act,
    ) -> Result<(), Self::Error>;

    /// `x[t] += bias`.
    fn add_bias(&mut self, x: &mut Self::Act, bias: &Self::Vector) -> Result<(), Self::Error>;

    /// RMSNorm of every `head_dim` slice of every row, in place, with `weight` `[head_dim]`.
    fn head_rms_norm(
        &mut self,
        x: &mut Self::Act,
        weight: &Self::Vector,
        head_dim: usize,
        eps: f32,
    ) -> Result<(), Self::Error>;

    /// Rotates every head of every row in place; row t is at position `start_pos + t`.
    fn rope(
        &mut self,
        x: &mut Self::Act,
        rope: &RopeTable,
        start_pos: usize,
    ) -> Result<(), Self::Error>;

    /// Stores `k`, `v` (`[rows, n_kv_heads * head_dim]`) at positions `start_pos..start_pos+rows` of
    /// `layer`, then computes causal softmax attention of `q` (`[rows, n_heads * head_dim]`) over
    /// positions `0..=start_pos+t` into `out` (`[rows, n_heads * head_dim]`), scale `1/sqrt(head_dim)`,
    /// query head h reading kv head `h / (n_heads / n_kv_heads)`.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        shape: AttentionShape,
        q: &Self::Act,
        k: &Self::Act,
        v: &Self::Act,
        cache: &mut Self::KvCache,
        layer: usize,
        start_pos: usize,
        out: &mut Self::Act,
    ) -> Result<(), Self::Error>;

    /// `out = silu(gate) * up`, elementwise.
    fn swiglu(
        &mut self,
        gate: &Self::Act,
        up: &Self::Act,
        out: &mut Self::Act,
    ) -> Result<(), Self::Error>;

    /// `x += y`, elementwise (the residual connection).
    fn add_assign(&mut self, x: &mut Self::Act, y: &Self::Act) -> Result<(), Self::Error>;
}
