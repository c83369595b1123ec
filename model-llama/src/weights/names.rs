//! Tensor names of the two checkpoint formats.
//!
//! GGUF names from llama.cpp's `LLM_TENSOR_NAMES` (src/llama-arch.cpp); Hugging Face names from
//! `LlamaForCausalLM` / `Qwen2ForCausalLM` / `Qwen3ForCausalLM` state dicts (identical for the
//! tensors used here). Tensor by tensor, the two formats hold the same matrix `[n_out, n_in]`;
//! only Llama's q/k rows are permuted in GGUF (see `RopePairing::for_checkpoint`).

use crate::config::CheckpointFormat;

/// A tensor of the model, independent of the file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tensor {
    TokenEmbedding,
    OutputNorm,
    Output,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnOut,
    AttnQBias,
    AttnKBias,
    AttnVBias,
    AttnOutBias,
    AttnQNorm,
    AttnKNorm,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
}

/// The name of `tensor` (of `layer`, for per-layer tensors) in a checkpoint of `format`.
pub fn tensor_name(format: CheckpointFormat, tensor: Tensor, layer: usize) -> String {
    use Tensor::*;
    match format {
        CheckpointFormat::Gguf => match tensor {
            TokenEmbedding => "token_embd.weight".into(),
            OutputNorm => "output_norm.weight".into(),
            Output => "output.weight".into(),
            AttnNorm => format!("blk.{layer}.attn_norm.weight"),
            AttnQ => format!("blk.{layer}.attn_q.weight"),
            AttnK => format!("blk.{layer}.attn_k.weight"),
            AttnV => format!("blk.{layer}.attn_v.weight"),
            AttnOut => format!("blk.{layer}.attn_output.weight"),
            AttnQBias => format!("blk.{layer}.attn_q.bias"),
            AttnKBias => format!("blk.{layer}.attn_k.bias"),
            AttnVBias => format!("blk.{layer}.attn_v.bias"),
            AttnOutBias => format!("blk.{layer}.attn_output.bias"),
            AttnQNorm => format!("blk.{layer}.attn_q_norm.weight"),
            AttnKNorm => format!("blk.{layer}.attn_k_norm.weight"),
            FfnNorm => format!("blk.{layer}.ffn_norm.weight"),
            FfnGate => format!("blk.{layer}.ffn_gate.weight"),
            FfnUp => format!("blk.{layer}.ffn_up.weight"),
            FfnDown => format!("blk.{layer}.ffn_down.weight"),
        },
        CheckpointFormat::HfSafetensors => match tensor {
            TokenEmbedding => "model.embed_tokens.weight".into(),
            OutputNorm => "model.norm.weight".into(),
            Output => "lm_head.weight".into(),
            AttnNorm => format!("model.layers.{layer}.input_layernorm.weight"),
            AttnQ => format!("model.layers.{layer}.self_attn.q_proj.weight"),
            AttnK => format!("model.layers.{layer}.self_attn.k_proj.weight"),
            AttnV => format!("model.layers.{layer}.self_attn.v_proj.weight"),
            AttnOut => format!("model.layers.{layer}.self_attn.o_proj.weight"),
            AttnQBias => format!("model.layers.{layer}.self_attn.q_proj.bias"),
            AttnKBias => format!("model.layers.{layer}.self_attn.k_proj.bias"),
            AttnVBias => format!("model.layers.{layer}.self_attn.v_proj.bias"),
            AttnOutBias => format!("model.layers.{layer}.self_attn.o_proj.bias"),
            AttnQNorm => format!("model.layers.{layer}.self_attn.q_norm.weight"),
            AttnKNorm => format!("model.layers.{layer}.self_attn.k_norm.weight"),
            FfnNorm => format!("model.layers.{layer}.post_attention_layernorm.weight"),
            FfnGate => format!("model.layers.{layer}.mlp.gate_proj.weight"),
            FfnUp => format!("model.layers.{layer}.mlp.up_proj.weight"),
            FfnDown => format!("model.layers.{layer}.mlp.down_proj.weight"),
        },
    }
}

/// Tensors a checkpoint may carry that the forward does not read: llama.cpp's `rope_freqs.weight`
/// (read into the config instead) and the rotary buffers old transformers versions saved.
pub fn is_ignorable(name: &str) -> bool {
    name == "rope_freqs.weight" || name.ends_with("rotary_emb.inv_freq")
}
