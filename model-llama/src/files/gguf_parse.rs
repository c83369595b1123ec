//! The GGUF parser: header, metadata key/values and tensor infos, every field validated.
//!
//! Layout (ggml/docs/gguf.md, mirrored by `gguf_init_from_file_impl` in ggml/src/gguf.cpp):
//! magic "GGUF", u32 version, u64 tensor count, u64 kv count, the kvs (string key, u32 type, value),
//! the tensor infos (string name, u32 n_dims, u64 ne[n_dims] innermost first, u32 type, u64 offset
//! relative to the data section), padding to `general.alignment` (default 32), the data section.

use super::FileError;
use super::byte_reader::ByteReader;
use super::gguf_value::{GgufValue, read_value};
use super::tensor_info::{TensorInfo, check_ranges, checked_size};
use quant_formats::GgmlType;
use std::collections::HashMap;

/// ggml's `GGUF_DEFAULT_ALIGNMENT`.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Largest `general.alignment` accepted (1 MiB).
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;

/// Fewest bytes a kv takes: u64 key length, u32 value type, a 1-byte value.
const MIN_KV_BYTES: usize = 8 + 4 + 1;
/// Fewest bytes a tensor info takes: u64 name length, u32 n_dims, one u64 dim, u32 type, u64 offset.
const MIN_TENSOR_INFO_BYTES: usize = 8 + 4 + 8 + 4 + 8;

/// Everything a GGUF header says, validated against the file's bytes.
pub(crate) struct ParsedGguf {
    pub version: u32,
    pub alignment: u64,
    pub data_start: u64,
    pub metadata: Vec<(String, GgufValue)>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
}

pub(crate) fn parse(path: &str, bytes: &[u8]) -> Result<ParsedGguf, FileError> {
    let mut r = ByteReader::new(bytes, path);
    let magic: [u8; 4] = r.array(&|| "header (magic)".into())?;
    if &magic != b"GGUF" {
        return Err(FileError::BadMagic {
            path: path.to_owned(),
            found: magic,
        });
    }
    let version = r.u32(&|| "header (version)".into())?;
    if !(2..=3).contains(&version) {
        return Err(FileError::UnsupportedVersion {
            path: path.to_owned(),
            version,
        });
    }
    let n_tensors = r.count(MIN_TENSOR_INFO_BYTES, &|| "header (tensor count)".into())?;
    let n_kv = r.count(MIN_KV_BYTES, &|| "header (metadata kv count)".into())?;

    let (metadata, key_index) = read_metadata(&mut r, n_kv)?;
    let alignment = read_alignment(path, &metadata, &key_index)?;

    let mut tensors = Vec::with_capacity(n_tensors);
    let mut tensor_index = HashMap::with_capacity(n_tensors);
    for i in 0..n_tensors {
        let info = read_tensor_info(&mut r, i, alignment)?;
        if tensor_index.insert(info.name.clone(), i).is_some() {
            return Err(FileError::DuplicateTensor {
                path: path.to_owned(),
                tensor: info.name,
            });
        }
        tensors.push(info);
    }

    let data_start = r.align_to(alignment as usize) as u64;
    for t in &mut tensors {
        // `t.offset` holds the offset relative to the data section until here.
        t.offset = data_start
            .checked_add(t.offset)
            .ok_or_else(|| FileError::TensorPastEnd {
                path: path.to_owned(),
                tensor: t.name.clone(),
                start: t.offset,
                end: u64::MAX,
                file_size: bytes.len() as u64,
            })?;
    }
    check_ranges(path, &tensors, bytes.len() as u64)?;

    Ok(ParsedGguf {
        version,
        alignment,
        data_start,
        metadata,
        key_index,
        tensors,
        tensor_index,
    })
}

type Metadata = (Vec<(String, GgufValue)>, HashMap<String, usize>);

fn read_metadata(r: &mut ByteReader<'_>, n_kv: usize) -> Result<Metadata, FileError> {
    let mut metadata = Vec::with_capacity(n_kv);
    let mut key_index = HashMap::with_capacity(n_kv);
    for i in 0..n_kv {
        let key = r.str(&|| format!("metadata kv #{i} (key)"))?;
        if key_index.contains_key(key) {
            return Err(FileError::DuplicateKey {
                path: r.path().to_owned(),
                key: key.to_owned(),
            });
        }
        let ty = r.u32(&|| format!("key '{key}' (value type)"))?;
        let value = read_value(r, key, ty)?;
        key_index.insert(key.to_owned(), i);
        metadata.push((key.to_owned(), value));
    }
    Ok((metadata, key_index))
}

/// `general.alignment`: any integer type, a power of two in `1..=MAX_ALIGNMENT`.
fn read_alignment(
    path: &str,
    metadata: &[(String, GgufValue)],
    index: &HashMap<String, usize>,
) -> Result<u64, FileError> {
    const KEY: &str = "general.alignment";
    let Some(&i) = index.get(KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let value = &metadata[i].1;
    let Some(n) = value.as_integer() else {
        return Err(FileError::WrongType {
            path: path.to_owned(),
            key: KEY.to_owned(),
            expected: "an integer",
            actual: value.type_name(),
        });
    };
    if n < 1 || n > i128::from(MAX_ALIGNMENT) || (n & (n - 1)) != 0 {
        return Err(FileError::BadMetadata {
            path: path.to_owned(),
            key: KEY.to_owned(),
            reason: format!("alignment {n} is not a power of two in 1..={MAX_ALIGNMENT}"),
        });
    }
    Ok(n as u64)
}

/// Reads tensor info `i`; its `offset` is still relative to the data section.
fn read_tensor_info(
    r: &mut ByteReader<'_>,
    i: usize,
    alignment: u64,
) -> Result<TensorInfo, FileError> {
    let path = r.path();
    let name = r.str(&|| format!("tensor info #{i} (name)"))?.to_owned();
    let n_dims = r.u32(&|| format!("tensor '{name}' (n_dims)"))?;
    if !(1..=MAX_DIMS).contains(&n_dims) {
        return Err(FileError::BadShape {
            path: path.to_owned(),
            tensor: name,
            shape: Vec::new(),
            reason: format!("{n_dims} dimensions, expected 1..={MAX_DIMS}"),
        });
    }
    let mut shape = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        shape.push(r.u64(&|| format!("tensor '{name}' (dimension {d})"))?);
    }
    // GGUF stores ne innermost first; TensorInfo::shape is outermost first.
    shape.reverse();
    let type_id = r.u32(&|| format!("tensor '{name}' (type)"))?;
    let ty = GgmlType::from_id(type_id).map_err(|source| FileError::TensorType {
        path: path.to_owned(),
        tensor: name.clone(),
        source,
    })?;
    let offset = r.u64(&|| format!("tensor '{name}' (offset)"))?;
    let (_, n_bytes) = checked_size(path, &name, ty, &shape)?;
    if offset % alignment != 0 {
        return Err(FileError::MisalignedTensor {
            path: path.to_owned(),
            tensor: name,
            offset,
            alignment,
        });
    }
    Ok(TensorInfo {
        name,
        ty,
        shape,
        offset,
        n_bytes,
        file_index: 0,
    })
}
