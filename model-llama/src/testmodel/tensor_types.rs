//! Which GGML type each GGUF tensor gets, following llama.cpp's `src/llama-quant.cpp`:
//! `tensor_allows_quantization` (only 2-D `*.weight`, never norms), `llama_tensor_get_type_impl`
//! (the Q4_K_M mix) and `tensor_type_fallback` (rows that are not a block multiple).

use super::layout::{Role, TensorDef};
use super::spec::WeightDtype;
use quant_formats::GgmlType;

/// Rows of this type cannot be stored and llama.cpp defines no fallback for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "tensor '{name}': rows of {row_len} are not a multiple of the {ty} block and {ty} has no fallback"
)]
pub struct NoFallback {
    pub name: String,
    pub ty: GgmlType,
    pub row_len: u64,
}

/// `use_more_bits` in `llama_tensor_get_type_impl`: the first and last eighth of the layers and
/// every third layer in between get more bits.
pub fn use_more_bits(i_layer: u64, n_layers: u64) -> bool {
    let (i, n) = (i_layer as i64, n_layers as i64);
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// The type of `def` in a GGUF of `dtype`. `tied` says whether the model has no `output.weight`
/// (then `token_embd` is quantised like the output); `n_layers` feeds the Q4_K_M layer rule.
pub fn gguf_tensor_type(
    dtype: WeightDtype,
    def: &TensorDef,
    tied: bool,
    n_layers: u64,
) -> Result<GgmlType, NoFallback> {
    if def.shape.len() < 2 {
        return Ok(GgmlType::F32);
    }
    let base = dtype.base_type();
    if !base.is_quantized() {
        return Ok(base);
    }
    let mut ty = base;
    if dtype == WeightDtype::Q4KM {
        let row_len = def.row_len();
        let is_output = def.role == Role::Output || (tied && def.role == Role::TokenEmbd);
        let more_bits = def.layer.is_some_and(|l| use_more_bits(l, n_layers));
        if is_output {
            ty = if !row_len.is_multiple_of(GgmlType::Q6_K.block_elems() as u64) {
                GgmlType::Q8_0
            } else {
                GgmlType::Q6_K
            };
        } else if matches!(def.role, Role::AttnV | Role::FfnDown) && more_bits {
            ty = GgmlType::Q6_K;
        }
    }
    fallback(&def.gguf_name, ty, def.row_len())
}

/// `tensor_type_fallback`: a row length that is not a block multiple gets a 32-block type
/// of similar size, and F16 when even that does not divide.
fn fallback(name: &str, ty: GgmlType, row_len: u64) -> Result<GgmlType, NoFallback> {
    if row_len.is_multiple_of(ty.block_elems() as u64) {
        return Ok(ty);
    }
    let replacement = match ty {
        GgmlType::IQ4_XS => GgmlType::IQ4_NL,
        GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q4_0,
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K => GgmlType::Q8_0,
        _ => {
            return Err(NoFallback {
                name: name.to_owned(),
                ty,
                row_len,
            });
        }
    };
    Ok(
        if row_len.is_multiple_of(replacement.block_elems() as u64) {
            replacement
        } else {
            GgmlType::F16
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmodel::layout::tensor_defs;
    use crate::testmodel::spec::{Arch, ModelDims, Preset};

    #[test]
    fn use_more_bits_matches_the_32_layer_pattern_of_llama_3_8b_q4_k_m() {
        // Layers whose ffn_down is Q6_K in a llama.cpp Llama-3-8B Q4_K_M: 0-3, 6, 9, ..., 27, 28-31.
        let more: Vec<u64> = (0..32).filter(|&l| use_more_bits(l, 32)).collect();
        assert_eq!(
            more,
            [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
        );
    }

    #[test]
    fn q4_k_m_mix_and_fallbacks() {
        let dims = ModelDims::for_preset(Arch::Qwen2, Preset::B1);
        let defs = tensor_defs(Arch::Qwen2, &dims);
        let ty = |name: &str, dtype| {
            let def = defs.iter().find(|d| d.gguf_name == name).unwrap();
            gguf_tensor_type(dtype, def, true, dims.layers).unwrap()
        };
        // hidden 896 is not a multiple of 256: tied embedding -> Q8_0, Q4_K -> Q5_0, Q6_K -> Q8_0.
        assert_eq!(ty("token_embd.weight", WeightDtype::Q4KM), GgmlType::Q8_0);
        assert_eq!(ty("blk.5.attn_q.weight", WeightDtype::Q4KM), GgmlType::Q5_0);
        assert_eq!(ty("blk.0.attn_v.weight", WeightDtype::Q4KM), GgmlType::Q8_0);
        // ffn_down rows are 4864 = 19 * 256.
        assert_eq!(
            ty("blk.0.ffn_down.weight", WeightDtype::Q4KM),
            GgmlType::Q6_K
        );
        assert_eq!(
            ty("blk.4.ffn_down.weight", WeightDtype::Q4KM),
            GgmlType::Q4_K
        );
        assert_eq!(ty("blk.0.attn_q.bias", WeightDtype::Q4KM), GgmlType::F32);
        assert_eq!(ty("output_norm.weight", WeightDtype::Q8_0), GgmlType::F32);
        assert_eq!(
            ty("blk.0.attn_q.weight", WeightDtype::Iq4Xs),
            GgmlType::IQ4_NL
        );
        assert_eq!(ty("blk.0.attn_q.weight", WeightDtype::Q2K), GgmlType::Q4_0);
        assert_eq!(ty("blk.0.attn_q.weight", WeightDtype::Bf16), GgmlType::BF16);
    }
}
