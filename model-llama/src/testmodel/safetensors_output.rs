//! The Hugging Face form: `model.safetensors` in the requested float type (every tensor, norms
//! included, as `save_pretrained` stores a model cast with `.to(dtype)`), `config.json`,
//! `generation_config.json`.

use super::encode::{ProgressCounter, RowOrder, stream_tensor};
use super::hf_config::{SpecialTokens, config_json, generation_config_json};
use super::layout::tensor_defs;
use super::random_weights::fill_row;
use super::{MadeModel, MakeModelError, ModelDims, ModelSpec, Progress};
use crate::files::{GgufFile, SafetensorsWriter};
use serde_json::Value;
use std::path::Path;

pub fn write_checkpoint(
    spec: &ModelSpec,
    dims: &ModelDims,
    progress: &dyn Fn(Progress),
) -> Result<MadeModel, MakeModelError> {
    let vocab_path = spec.vocab_dir.join(dims.vocab_file);
    let vocab = GgufFile::open(&vocab_path)?;
    let tokens = SpecialTokens {
        bos: vocab.opt_u32("tokenizer.ggml.bos_token_id")?,
        eos: vocab.opt_u32("tokenizer.ggml.eos_token_id")?,
    };
    let dir = &spec.out;
    std::fs::create_dir_all(dir).map_err(|source| MakeModelError::Io {
        path: dir.clone(),
        source,
    })?;

    let ty = spec.dtype.base_type();
    let defs = tensor_defs(spec.arch, dims);
    let mut writer = SafetensorsWriter::new();
    for def in &defs {
        writer.add_tensor(def.hf_name.clone(), ty, &def.shape)?;
    }
    let tensor_bytes = writer.tensors().iter().map(|t| t.n_bytes).sum();
    let weights_path = dir.join("model.safetensors");
    let mut data = writer.create(&weights_path)?;
    let total = defs.iter().map(|d| d.elements()).sum();
    let mut counter = ProgressCounter::new(total, progress);
    for def in &defs {
        stream_tensor(
            def,
            ty,
            RowOrder::AsGenerated,
            &|def, row, out| {
                fill_row(spec.seed, def, row, out);
                Ok(())
            },
            &mut |bytes| data.write_data(bytes).map_err(MakeModelError::from),
            &mut |n| counter.add(n),
        )?;
    }
    data.finish()?;

    let config_path = dir.join("config.json");
    write_json(
        &config_path,
        &config_json(spec.arch, dims, spec.dtype, tokens),
    )?;
    let generation_path = dir.join("generation_config.json");
    write_json(&generation_path, &generation_config_json(tokens))?;
    Ok(MadeModel {
        files: vec![weights_path, config_path, generation_path],
        tensor_count: defs.len(),
        tensor_bytes,
    })
}

fn write_json(path: &Path, value: &Value) -> Result<(), MakeModelError> {
    let mut text =
        serde_json::to_string_pretty(value).expect("a serde_json::Value always serialises");
    text.push('\n');
    std::fs::write(path, text).map_err(|source| MakeModelError::Io {
        path: path.to_owned(),
        source,
    })
}
