//! The transformer forward, written once for every backend and every supported family.
//!
//! Mirrors `LlamaModel.forward` / `Qwen2Model.forward` / `Qwen3Model.forward` of transformers
//! (pre-norm blocks, SwiGLU MLP, GQA); the differences between the families are config fields:
//! `qkv_bias`, `attn_out_bias`, `qk_norm`, `rope_pairing`, `rope_freq_factors`, `tied_embeddings`.

use super::error::ForwardError;
use super::ops::{AttentionShape, ForwardOps};
use super::rope::RopeTable;
use crate::config::ModelConfig;
use crate::weights::ModelWeights;

/// Runs `tokens` (at positions `start_pos..start_pos + tokens.len()`) through the model, appending
/// their keys and values to `cache`; returns the logits of every token, `[tokens.len(), vocab]`.
pub fn forward<O: ForwardOps>(
    ops: &mut O,
    config: &ModelConfig,
    weights: &ModelWeights<O::Matrix, O::Vector>,
    rope: &RopeTable,
    cache: &mut O::KvCache,
    tokens: &[u32],
    start_pos: usize,
) -> Result<O::Act, O::Error> {
    let n = tokens.len();
    if n == 0 {
        return Err(ForwardError::EmptyInput.into());
    }
    if let Some(&token) = tokens.iter().find(|&&t| t as usize >= config.vocab_size) {
        return Err(ForwardError::TokenOutOfRange {
            token,
            vocab: config.vocab_size,
        }
        .into());
    }
    let (hidden, q_dim, kv_dim, ffn) = (
        config.hidden_size,
        config.q_dim(),
        config.kv_dim(),
        config.ffn_size,
    );
    let eps = config.rms_norm_eps;
    let shape = AttentionShape {
        n_heads: config.n_heads,
        n_kv_heads: config.n_kv_heads,
        head_dim: config.head_dim,
    };

    let mut x = ops.alloc(n, hidden)?; // residual stream (n, hidden)
    let mut xb = ops.alloc(n, hidden)?; // normed input of a branch (n, hidden)
    let mut q = ops.alloc(n, q_dim)?; // (n, n_heads * head_dim)
    let mut k = ops.alloc(n, kv_dim)?; // (n, n_kv_heads * head_dim)
    let mut v = ops.alloc(n, kv_dim)?; // (n, n_kv_heads * head_dim)
    let mut attn = ops.alloc(n, q_dim)?; // attention output before o_proj (n, q_dim)
    let mut branch = ops.alloc(n, hidden)?; // branch output added to the residual (n, hidden)
    let mut gate = ops.alloc(n, ffn)?; // (n, ffn)
    let mut up = ops.alloc(n, ffn)?; // (n, ffn)
    let mut act = ops.alloc(n, ffn)?; // silu(gate) * up (n, ffn)

    ops.embed(&weights.token_embd, tokens, &mut x)?;
    for (l, layer) in weights.layers.iter().enumerate() {
        // Attention block: x += o_proj(attention(rope(q), rope(k), v)) over rms_norm(x).
        ops.rms_norm(&x, &layer.attn_norm, eps, &mut xb)?;
        ops.matmul(&layer.wq, &xb, &mut q)?;
        ops.matmul(&layer.wk, &xb, &mut k)?;
        ops.matmul(&layer.wv, &xb, &mut v)?;
        if let Some([bq, bk, bv]) = &layer.qkv_bias {
            ops.add_bias(&mut q, bq)?;
            ops.add_bias(&mut k, bk)?;
            ops.add_bias(&mut v, bv)?;
        }
        if let Some([q_norm, k_norm]) = &layer.qk_norm {
            ops.head_rms_norm(&mut q, q_norm, config.head_dim, eps)?;
            ops.head_rms_norm(&mut k, k_norm, config.head_dim, eps)?;
        }
        ops.rope(&mut q, rope, start_pos)?;
        ops.rope(&mut k, rope, start_pos)?;
        ops.attention(shape, &q, &k, &v, cache, l, start_pos, &mut attn)?;
        ops.matmul(&layer.wo, &attn, &mut branch)?;
        if let Some(bo) = &layer.wo_bias {
            ops.add_bias(&mut branch, bo)?;
        }
        ops.add_assign(&mut x, &branch)?;

        // MLP block: x += down(silu(gate(h)) * up(h)), h = rms_norm(x).
        ops.rms_norm(&x, &layer.ffn_norm, eps, &mut xb)?;
        ops.matmul(&layer.w_gate, &xb, &mut gate)?;
        ops.matmul(&layer.w_up, &xb, &mut up)?;
        ops.swiglu(&gate, &up, &mut act)?;
        ops.matmul(&layer.w_down, &act, &mut branch)?;
        ops.add_assign(&mut x, &branch)?;
    }
    ops.rms_norm(&x, &weights.output_norm, eps, &mut xb)?;
    let mut logits = ops.alloc(n, config.vocab_size)?; // (n, vocab)
    ops.matmul(weights.lm_head(), &xb, &mut logits)?;
    Ok(logits)
}
