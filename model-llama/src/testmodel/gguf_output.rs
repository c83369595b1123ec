//! The GGUF form: llama.cpp metadata keys, the tokenizer of a vocab fixture, tensor types from
//! [`super::tensor_types`], llama Q/K rows permuted, optional `rope_freqs.weight`.
//!
//! Keys as `convert_hf_to_gguf.py` writes them (gguf-py `constants.py` `Keys.LLM`, `Keys.Attention`,
//! `Keys.Rope`); `general.quantization_version` as `llama-quantize` adds it.

use super::encode::{ProgressCounter, RowFill, RowOrder, stream_tensor};
use super::layout::{TensorDef, llama3_rope_factors, tensor_defs};
use super::random_weights::fill_row;
use super::tensor_types::gguf_tensor_type;
use super::{MadeModel, MakeModelError, ModelDims, ModelSpec, Progress, WeightDtype};
use crate::files::{GgufFile, GgufValue, GgufWriter};
use quant_formats::GgmlType;
use std::path::Path;

/// ggml's `GGML_QNT_VERSION`.
const GGML_QUANTIZATION_VERSION: u32 = 2;

pub fn write_gguf(
    spec: &ModelSpec,
    dims: &ModelDims,
    progress: &dyn Fn(Progress),
) -> Result<MadeModel, MakeModelError> {
    let vocab_path = spec.vocab_dir.join(dims.vocab_file);
    let vocab = GgufFile::open(&vocab_path)?;
    let tokens = vocab.str_array("tokenizer.ggml.tokens")?.len() as u64;
    if tokens != dims.vocab {
        return Err(MakeModelError::VocabSize {
            path: vocab_path,
            found: tokens,
            expected: dims.vocab,
        });
    }

    let arch = spec.arch.name();
    let name = format!("realizar test {arch} {} seed {}", spec.preset, spec.seed);
    let mut metadata = model_metadata(arch, name, dims, spec.dtype);
    metadata.extend(
        vocab
            .metadata()
            .filter(|(k, _)| k.starts_with("tokenizer."))
            .map(|(k, v)| (k.to_owned(), v.clone())),
    );
    let defs = tensor_defs(spec.arch, dims);
    write_model_gguf(
        GgufModel {
            out: &spec.out,
            metadata,
            rope_factors: llama3_rope_factors(dims),
            defs: &defs,
            dtype: spec.dtype,
            dims,
            qk_rows: RowOrder::GgufPermuted,
        },
        &|def, row, out| {
            fill_row(spec.seed, def, row, out);
            Ok(())
        },
        progress,
    )
}

/// Everything of a GGUF model file except the weight values.
pub(super) struct GgufModel<'a> {
    pub out: &'a Path,
    /// Written in this order, before the tensors.
    pub metadata: Vec<(String, GgufValue)>,
    /// llama3 `rope_freqs.weight`, `[head_dim / 2]`, written first.
    pub rope_factors: Option<Vec<f32>>,
    /// The weight tensors in file order.
    pub defs: &'a [TensorDef],
    /// Decides each tensor's type with `dims.tied_embeddings` and `dims.layers`.
    pub dtype: WeightDtype,
    pub dims: &'a ModelDims,
    /// `GgufPermuted` as llama.cpp writes; `AsGenerated` leaves Llama q/k rows in HF order.
    pub qk_rows: RowOrder,
}

/// Writes `model` with each tensor's rows from `fill`, encoded in its llama.cpp type.
pub(super) fn write_model_gguf(
    model: GgufModel,
    fill: &RowFill,
    progress: &dyn Fn(Progress),
) -> Result<MadeModel, MakeModelError> {
    let GgufModel {
        out,
        metadata,
        rope_factors,
        defs,
        dtype,
        dims,
        qk_rows,
    } = model;
    let mut writer = GgufWriter::new();
    for (key, value) in metadata {
        writer.add_metadata(key, value)?;
    }
    if let Some(factors) = &rope_factors {
        writer.add_tensor("rope_freqs.weight", GgmlType::F32, &[factors.len() as u64])?;
    }
    let mut planned: Vec<(&TensorDef, GgmlType)> = Vec::with_capacity(defs.len());
    for def in defs {
        let ty = gguf_tensor_type(dtype, def, dims.tied_embeddings, dims.layers)?;
        writer.add_tensor(def.gguf_name.clone(), ty, &def.shape)?;
        planned.push((def, ty));
    }
    let tensor_count = writer.tensors().len();
    let tensor_bytes = writer.tensors().iter().map(|t| t.n_bytes).sum();

    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| MakeModelError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    let mut data = writer.create(out)?;
    if let Some(factors) = &rope_factors {
        let bytes: Vec<u8> = factors.iter().flat_map(|f| f.to_le_bytes()).collect();
        data.write_data(&bytes)?;
    }
    let total = planned.iter().map(|(def, _)| def.elements()).sum();
    let mut counter = ProgressCounter::new(total, progress);
    for (def, ty) in planned {
        stream_tensor(
            def,
            ty,
            qk_rows,
            fill,
            &mut |bytes| data.write_data(bytes).map_err(MakeModelError::from),
            &mut |n| counter.add(n),
        )?;
    }
    data.finish()?;
    Ok(MadeModel {
        files: vec![out.to_owned()],
        tensor_count,
        tensor_bytes,
    })
}

/// `general.*` and `{arch}.*` keys of a model of `dims` whose matrices are `dtype`.
pub(super) fn model_metadata(
    arch: &str,
    name: String,
    dims: &ModelDims,
    dtype: WeightDtype,
) -> Vec<(String, GgufValue)> {
    let u32_of = |v: u64| GgufValue::U32(u32::try_from(v).unwrap_or(u32::MAX));
    let mut keys = vec![
        (
            "general.architecture".to_owned(),
            GgufValue::String(arch.to_owned()),
        ),
        ("general.name".to_owned(), GgufValue::String(name)),
        (
            format!("{arch}.context_length"),
            u32_of(dims.context_length),
        ),
        (format!("{arch}.embedding_length"), u32_of(dims.hidden)),
        (format!("{arch}.block_count"), u32_of(dims.layers)),
        (format!("{arch}.feed_forward_length"), u32_of(dims.ffn)),
        (format!("{arch}.attention.head_count"), u32_of(dims.heads)),
        (
            format!("{arch}.attention.head_count_kv"),
            u32_of(dims.kv_heads),
        ),
        (
            format!("{arch}.rope.freq_base"),
            GgufValue::F32(dims.rope_theta),
        ),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            GgufValue::F32(dims.rms_eps),
        ),
        (
            format!("{arch}.rope.dimension_count"),
            u32_of(dims.head_dim),
        ),
        (format!("{arch}.vocab_size"), u32_of(dims.vocab)),
        (
            "general.file_type".to_owned(),
            GgufValue::U32(dtype.llama_ftype()),
        ),
    ];
    if dims.heads * dims.head_dim != dims.hidden {
        keys.push((
            format!("{arch}.attention.key_length"),
            u32_of(dims.head_dim),
        ));
        keys.push((
            format!("{arch}.attention.value_length"),
            u32_of(dims.head_dim),
        ));
    }
    if dtype.base_type().is_quantized() {
        keys.push((
            "general.quantization_version".to_owned(),
            GgufValue::U32(GGML_QUANTIZATION_VERSION),
        ));
    }
    keys
}
