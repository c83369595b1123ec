//! `realizar info MODEL`: architecture, hyper-parameters, tokenizer, and a table of tensors with
//! totals, for a GGUF file or a Hugging Face safetensors directory.

use clap::Args;
use model_llama::files::{
    GgufArray, GgufFile, GgufValue, ModelFile, SafetensorsCheckpoint, TensorInfo, TensorSource,
};
use quant_formats::GgmlType;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A `.gguf` file, or a directory (or `.safetensors` file) of a Hugging Face checkpoint.
    pub model: PathBuf,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let text = describe(&args.model)?;
    print!("{text}");
    Ok(())
}

/// The whole report as text.
pub fn describe(path: &Path) -> anyhow::Result<String> {
    let model = ModelFile::open(path)?;
    let mut out = String::new();
    match &model {
        ModelFile::Gguf(file) => describe_gguf(file, &mut out),
        ModelFile::Safetensors(checkpoint) => describe_safetensors(checkpoint, &mut out),
    }
    tensor_table(model.tensors(), &mut out);
    Ok(out)
}

fn describe_gguf(file: &GgufFile, out: &mut String) {
    let arch = file.architecture().unwrap_or("(no general.architecture)");
    let _ = writeln!(
        out,
        "file:          {} (GGUF v{})",
        file.path_name(),
        file.version()
    );
    let _ = writeln!(out, "architecture:  {arch}");
    if let Ok(name) = file.str("general.name") {
        let _ = writeln!(out, "name:          {name}");
    }
    if let Ok(file_type) = file.u32("general.file_type") {
        let _ = writeln!(
            out,
            "file type:     {file_type} ({})",
            llama_ftype_name(file_type)
        );
    }
    let _ = writeln!(out, "alignment:     {}", file.alignment());
    let _ = writeln!(out, "hyper-parameters:");
    let prefix = format!("{arch}.");
    for (key, value) in file.metadata().filter(|(k, _)| k.starts_with(&prefix)) {
        let _ = writeln!(out, "  {:<40} {}", &key[prefix.len()..], short_value(value));
    }
    let _ = writeln!(out, "tokenizer:     {}", gguf_tokenizer_summary(file));
}

/// llama.cpp's `enum llama_ftype` (include/llama.h), the values `general.file_type` holds.
fn llama_ftype_name(file_type: u32) -> &'static str {
    match file_type {
        0 => "ALL_F32",
        1 => "MOSTLY_F16",
        2 => "MOSTLY_Q4_0",
        3 => "MOSTLY_Q4_1",
        7 => "MOSTLY_Q8_0",
        8 => "MOSTLY_Q5_0",
        9 => "MOSTLY_Q5_1",
        10 => "MOSTLY_Q2_K",
        11 => "MOSTLY_Q3_K_S",
        12 => "MOSTLY_Q3_K_M",
        13 => "MOSTLY_Q3_K_L",
        14 => "MOSTLY_Q4_K_S",
        15 => "MOSTLY_Q4_K_M",
        16 => "MOSTLY_Q5_K_S",
        17 => "MOSTLY_Q5_K_M",
        18 => "MOSTLY_Q6_K",
        25 => "MOSTLY_IQ4_NL",
        30 => "MOSTLY_IQ4_XS",
        32 => "MOSTLY_BF16",
        _ => "other llama_ftype",
    }
}

fn gguf_tokenizer_summary(file: &GgufFile) -> String {
    let Ok(model) = file.str("tokenizer.ggml.model") else {
        return "none (no tokenizer.ggml.model)".to_owned();
    };
    let mut parts = vec![model.to_owned()];
    if let Ok(pre) = file.str("tokenizer.ggml.pre") {
        parts.push(format!("pre {pre}"));
    }
    if let Ok(tokens) = file.str_array("tokenizer.ggml.tokens") {
        parts.push(format!("{} tokens", tokens.len()));
    }
    if let Ok(merges) = file.str_array("tokenizer.ggml.merges") {
        parts.push(format!("{} merges", merges.len()));
    }
    for (key, label) in [("bos_token_id", "bos"), ("eos_token_id", "eos")] {
        if let Ok(id) = file.u32(&format!("tokenizer.ggml.{key}")) {
            parts.push(format!("{label} {id}"));
        }
    }
    if file.get("tokenizer.chat_template").is_some() {
        parts.push("chat template".to_owned());
    }
    parts.join(", ")
}

/// A value on one line; long arrays as their type and length.
fn short_value(value: &GgufValue) -> String {
    match value {
        GgufValue::String(s) if s.len() > 60 => format!(
            "{:?}... ({} bytes)",
            &s[..s.floor_char_boundary(60)],
            s.len()
        ),
        GgufValue::String(s) => format!("{s:?}"),
        GgufValue::Array(array) => match array {
            GgufArray::F32(v) if v.len() <= 8 => format!("{v:?}"),
            GgufArray::U32(v) if v.len() <= 8 => format!("{v:?}"),
            GgufArray::I32(v) if v.len() <= 8 => format!("{v:?}"),
            _ => format!("{} of {} elements", value.type_name(), array_len(array)),
        },
        GgufValue::U8(v) => v.to_string(),
        GgufValue::I8(v) => v.to_string(),
        GgufValue::U16(v) => v.to_string(),
        GgufValue::I16(v) => v.to_string(),
        GgufValue::U32(v) => v.to_string(),
        GgufValue::I32(v) => v.to_string(),
        GgufValue::U64(v) => v.to_string(),
        GgufValue::I64(v) => v.to_string(),
        GgufValue::F32(v) => v.to_string(),
        GgufValue::F64(v) => v.to_string(),
        GgufValue::Bool(v) => v.to_string(),
    }
}

fn array_len(array: &GgufArray) -> usize {
    match array {
        GgufArray::U8(v) => v.len(),
        GgufArray::I8(v) => v.len(),
        GgufArray::U16(v) => v.len(),
        GgufArray::I16(v) => v.len(),
        GgufArray::U32(v) => v.len(),
        GgufArray::I32(v) => v.len(),
        GgufArray::U64(v) => v.len(),
        GgufArray::I64(v) => v.len(),
        GgufArray::F32(v) => v.len(),
        GgufArray::F64(v) => v.len(),
        GgufArray::Bool(v) => v.len(),
        GgufArray::String(v) => v.len(),
        GgufArray::Array(v) => v.len(),
    }
}

/// `config.json` fields that size the model, in this order; others follow alphabetically.
const HF_KEY_FIELDS: [&str; 14] = [
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "tie_word_embeddings",
    "torch_dtype",
    "hidden_act",
];

fn describe_safetensors(checkpoint: &SafetensorsCheckpoint, out: &mut String) {
    let shards: Vec<&str> = checkpoint.shard_paths().collect();
    let _ = writeln!(
        out,
        "checkpoint:    {} ({} safetensors file(s))",
        checkpoint.dir().display(),
        shards.len()
    );
    let Some(config) = checkpoint.config().and_then(Value::as_object) else {
        let _ = writeln!(out, "architecture:  unknown (no config.json)");
        let _ = writeln!(
            out,
            "tokenizer:     {}",
            hf_tokenizer_summary(checkpoint.dir())
        );
        return;
    };
    let architectures = config
        .get("architectures")
        .map_or("(none)".to_owned(), Value::to_string);
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("(none)");
    let _ = writeln!(out, "architecture:  {model_type} {architectures}");
    let _ = writeln!(out, "hyper-parameters (config.json):");
    for key in HF_KEY_FIELDS {
        if let Some(value) = config.get(key) {
            let _ = writeln!(out, "  {key:<40} {value}");
        }
    }
    let mut rest: Vec<(&String, &Value)> = config
        .iter()
        .filter(|(k, _)| !HF_KEY_FIELDS.contains(&k.as_str()))
        .collect();
    rest.sort_by_key(|(k, _)| *k);
    for (key, value) in rest {
        let _ = writeln!(out, "  {key:<40} {value}");
    }
    let _ = writeln!(
        out,
        "tokenizer:     {}",
        hf_tokenizer_summary(checkpoint.dir())
    );
}

/// The kind of `tokenizer.json` (its `model.type`) and vocabulary size, if the file is there.
fn hf_tokenizer_summary(dir: &Path) -> String {
    let path = dir.join("tokenizer.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return "none (no tokenizer.json)".to_owned();
    };
    let Ok(json) = serde_json::from_str::<Value>(&text) else {
        return format!("{}: not valid JSON", path.display());
    };
    let model = &json["model"];
    let kind = model["type"].as_str().unwrap_or("unknown");
    let vocab = match &model["vocab"] {
        Value::Object(v) => v.len(),
        Value::Array(v) => v.len(),
        _ => 0,
    };
    let added = json["added_tokens"].as_array().map_or(0, Vec::len);
    format!("tokenizer.json {kind}, {vocab} tokens + {added} added")
}

/// The tensor table, then totals and a per-type summary.
fn tensor_table(tensors: &[TensorInfo], out: &mut String) {
    let name_width = tensors
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "tensors (shape row-major, outermost first):");
    let _ = writeln!(
        out,
        "  {:<name_width$}  {:<6}  {:<20}  {:>14}",
        "name", "type", "shape", "bytes"
    );
    let mut per_type: BTreeMap<GgmlType, (usize, u64, u64)> = BTreeMap::new();
    for t in tensors {
        let shape = format!("{:?}", t.shape);
        let _ = writeln!(
            out,
            "  {:<name_width$}  {:<6}  {:<20}  {:>14}",
            t.name,
            t.ty.name(),
            shape,
            t.n_bytes
        );
        let entry = per_type.entry(t.ty).or_default();
        entry.0 += 1;
        entry.1 += t.n_bytes;
        entry.2 += t.elements();
    }
    let bytes: u64 = tensors.iter().map(|t| t.n_bytes).sum();
    let elements: u64 = tensors.iter().map(|t| t.elements()).sum();
    let _ = writeln!(
        out,
        "total: {} tensors, {} parameters, {} bytes ({})",
        tensors.len(),
        elements,
        bytes,
        human_bytes(bytes)
    );
    for (ty, (count, bytes, elements)) in per_type {
        let bits = if elements == 0 {
            0.0
        } else {
            bytes as f64 * 8.0 / elements as f64
        };
        let _ = writeln!(
            out,
            "  {:<6} {:>5} tensors  {:>14} bytes ({}, {bits:.2} bits/weight)",
            ty.name(),
            count,
            bytes,
            human_bytes(bytes)
        );
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_the_largest_unit_below_1024() {
        assert_eq!(human_bytes(1023), "1023.0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
