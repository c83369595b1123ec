//! The tensors of a Llama/Qwen2 checkpoint, with their Hugging Face and llama.cpp names.
//!
//! Names as in transformers' `modeling_llama.py` / `modeling_qwen2.py` and llama.cpp's
//! `gguf-py/gguf/tensor_mapping.py` (`MODEL_TENSOR.TOKEN_EMBD` = `token_embd`, `ATTN_Q` =
//! `blk.{bid}.attn_q`, ...). Shapes are row-major as stored by PyTorch: a linear weight is
//! `[n_out, n_in]`.

use super::spec::{Arch, ModelDims};

/// What a tensor does, for initialisation and for llama.cpp's per-tensor type rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    TokenEmbd,
    Output,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnGate,
    FfnUp,
    FfnDown,
    Norm,
    Bias,
}

/// One tensor of the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorDef {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`; also the random seed key.
    pub hf_name: String,
    /// llama.cpp name, e.g. `blk.0.attn_q.weight`.
    pub gguf_name: String,
    /// Row-major, outermost first.
    pub shape: Vec<u64>,
    pub role: Role,
    pub layer: Option<u64>,
    /// Heads whose rows llama.cpp's converter interleaves (`LlamaModel.permute`), if any.
    pub gguf_permute_heads: Option<u64>,
}

impl TensorDef {
    pub fn rows(&self) -> u64 {
        if self.shape.len() == 2 {
            self.shape[0]
        } else {
            1
        }
    }

    pub fn row_len(&self) -> u64 {
        *self.shape.last().unwrap_or(&1)
    }

    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Every weight tensor, in llama.cpp's file order (embedding, blocks, final norm, output).
/// The rope-factor tensor, which only GGUF holds, is not listed here.
pub fn tensor_defs(arch: Arch, dims: &ModelDims) -> Vec<TensorDef> {
    let permute = |heads| match arch {
        Arch::Llama => Some(heads),
        Arch::Qwen2 => None,
    };
    let q_out = dims.heads * dims.head_dim;
    let kv_out = dims.kv_heads * dims.head_dim;
    let mut defs = vec![def(
        "model.embed_tokens.weight",
        "token_embd.weight",
        &[dims.vocab, dims.hidden],
        Role::TokenEmbd,
        None,
    )];
    for l in 0..dims.layers {
        let hf = |s: &str| format!("model.layers.{l}.{s}");
        let gg = |s: &str| format!("blk.{l}.{s}");
        let layer = Some(l);
        let mut push = |hf_name: String, gguf_name: String, shape: &[u64], role, permute| {
            defs.push(TensorDef {
                hf_name,
                gguf_name,
                shape: shape.to_vec(),
                role,
                layer,
                gguf_permute_heads: permute,
            });
        };
        let (h, f) = (dims.hidden, dims.ffn);
        push(
            hf("input_layernorm.weight"),
            gg("attn_norm.weight"),
            &[h],
            Role::Norm,
            None,
        );
        push(
            hf("self_attn.q_proj.weight"),
            gg("attn_q.weight"),
            &[q_out, h],
            Role::AttnQ,
            permute(dims.heads),
        );
        push(
            hf("self_attn.k_proj.weight"),
            gg("attn_k.weight"),
            &[kv_out, h],
            Role::AttnK,
            permute(dims.kv_heads),
        );
        push(
            hf("self_attn.v_proj.weight"),
            gg("attn_v.weight"),
            &[kv_out, h],
            Role::AttnV,
            None,
        );
        if dims.qkv_bias {
            push(
                hf("self_attn.q_proj.bias"),
                gg("attn_q.bias"),
                &[q_out],
                Role::Bias,
                None,
            );
            push(
                hf("self_attn.k_proj.bias"),
                gg("attn_k.bias"),
                &[kv_out],
                Role::Bias,
                None,
            );
            push(
                hf("self_attn.v_proj.bias"),
                gg("attn_v.bias"),
                &[kv_out],
                Role::Bias,
                None,
            );
        }
        push(
            hf("self_attn.o_proj.weight"),
            gg("attn_output.weight"),
            &[h, q_out],
            Role::AttnOutput,
            None,
        );
        push(
            hf("post_attention_layernorm.weight"),
            gg("ffn_norm.weight"),
            &[h],
            Role::Norm,
            None,
        );
        push(
            hf("mlp.gate_proj.weight"),
            gg("ffn_gate.weight"),
            &[f, h],
            Role::FfnGate,
            None,
        );
        push(
            hf("mlp.up_proj.weight"),
            gg("ffn_up.weight"),
            &[f, h],
            Role::FfnUp,
            None,
        );
        push(
            hf("mlp.down_proj.weight"),
            gg("ffn_down.weight"),
            &[h, f],
            Role::FfnDown,
            None,
        );
    }
    defs.push(def(
        "model.norm.weight",
        "output_norm.weight",
        &[dims.hidden],
        Role::Norm,
        None,
    ));
    if !dims.tied_embeddings {
        defs.push(def(
            "lm_head.weight",
            "output.weight",
            &[dims.vocab, dims.hidden],
            Role::Output,
            None,
        ));
    }
    defs
}

fn def(hf: &str, gguf: &str, shape: &[u64], role: Role, layer: Option<u64>) -> TensorDef {
    TensorDef {
        hf_name: hf.to_owned(),
        gguf_name: gguf.to_owned(),
        shape: shape.to_vec(),
        role,
        layer,
        gguf_permute_heads: None,
    }
}

/// The Hugging Face row that lands on GGUF row `row` after llama.cpp's Q/K permutation.
///
/// convert_hf_to_gguf.py `LlamaModel.permute`:
/// `w.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2).reshape(w.shape)`, so GGUF row
/// `h*hd + i*2 + j` holds HF row `h*hd + j*(hd/2) + i` (hd = rows / n_head).
pub fn permuted_source_row(row: u64, rows: u64, heads: u64) -> u64 {
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let (head, within) = (row / head_dim, row % head_dim);
    let (i, j) = (within / 2, within % 2);
    head * head_dim + j * half + i
}

/// llama.cpp's per-dimension rope factors for llama3 scaling (`rope_freqs.weight`, F32,
/// `[head_dim / 2]`), as convert_hf_to_gguf.py `LlamaModel.generate_extra_tensors` computes them.
pub fn llama3_rope_factors(dims: &ModelDims) -> Option<Vec<f32>> {
    let s = dims.rope_scaling?;
    let old_context = s.original_max_position_embeddings as f32;
    let low_freq_wavelen = old_context / s.low_freq_factor;
    let high_freq_wavelen = old_context / s.high_freq_factor;
    let dim = dims.head_dim as f32;
    Some(
        (0..dims.head_dim / 2)
            .map(|i| {
                let freq = 1.0 / dims.rope_theta.powf((2 * i) as f32 / dim);
                let wavelen = 2.0 * std::f32::consts::PI / freq;
                if wavelen < high_freq_wavelen {
                    1.0
                } else if wavelen > low_freq_wavelen {
                    s.factor
                } else {
                    let smooth = (old_context / wavelen - s.low_freq_factor)
                        / (s.high_freq_factor - s.low_freq_factor);
                    1.0 / ((1.0 - smooth) / s.factor + smooth)
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmodel::spec::Preset;

    #[test]
    fn permutation_interleaves_the_two_rope_halves_of_each_head() {
        // One head of dim 8: HF rows [0 1 2 3 | 4 5 6 7] become [0 4 1 5 2 6 3 7].
        let rows: Vec<u64> = (0..8).map(|r| permuted_source_row(r, 8, 1)).collect();
        assert_eq!(rows, [0, 4, 1, 5, 2, 6, 3, 7]);
        let second_head: Vec<u64> = (8..16).map(|r| permuted_source_row(r, 16, 2)).collect();
        assert_eq!(second_head, [8, 12, 9, 13, 10, 14, 11, 15]);
    }

    #[test]
    fn tied_models_have_no_output_and_qwen2_has_biases() {
        let dims = ModelDims::for_preset(Arch::Qwen2, Preset::Tiny);
        let defs = tensor_defs(Arch::Qwen2, &dims);
        assert!(defs.iter().all(|d| d.role != Role::Output));
        assert_eq!(defs.iter().filter(|d| d.role == Role::Bias).count(), 3 * 2);
        assert!(defs.iter().all(|d| d.gguf_permute_heads.is_none()));
        let llama = tensor_defs(Arch::Llama, &ModelDims::for_preset(Arch::Llama, Preset::B8));
        assert_eq!(llama.len(), 1 + 32 * 9 + 2);
        let k = llama
            .iter()
            .find(|d| d.gguf_name == "blk.0.attn_k.weight")
            .unwrap();
        assert_eq!(
            (k.shape.as_slice(), k.gguf_permute_heads),
            (&[1024, 4096][..], Some(8))
        );
    }

    #[test]
    fn llama3_factors_are_one_for_short_and_factor_for_long_wavelengths() {
        let dims = ModelDims::for_preset(Arch::Llama, Preset::B1);
        let f = llama3_rope_factors(&dims).unwrap();
        assert_eq!(f.len(), 32);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[31], 32.0);
        assert!(f.windows(2).all(|w| w[0] <= w[1]));
        assert!(llama3_rope_factors(&ModelDims::for_preset(Arch::Llama, Preset::B8)).is_none());
    }
}
