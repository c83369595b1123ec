//! Streaming single-file safetensors writer.
//!
//! Format (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian header
//! length N, N bytes of JSON `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
//! "__metadata__": {...}}` padded with spaces to a multiple of 8 (as the `safetensors` crate's
//! `serialize` pads it), then the tensor bytes back to back in offset order.
//!
//! Shapes are declared first so the header can be written before any data, and the data then
//! streamed tensor by tensor: an 8B model in f16 (16 GB) never sits in memory.

use super::data_writer::{
    PlannedTensor, TensorDataWriter, TensorPlan, create_buffered, from_data_write_error,
};
use quant_formats::GgmlType;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Errors from writing a safetensors file; each names the file or the tensor.
#[derive(Debug, thiserror::Error)]
pub enum SafetensorsWriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "safetensors writer: tensor '{name}': type {ty} has no safetensors dtype (F32, F16, BF16 only)"
    )]
    UnsupportedType { name: String, ty: GgmlType },
    #[error("safetensors writer: duplicate tensor '{name}'")]
    DuplicateTensor { name: String },
    #[error("safetensors writer: tensor '{name}': shape {shape:?} overflows")]
    BadShape { name: String, shape: Vec<u64> },
    #[error("{path}: tensor '{name}': got {got} bytes of data, its shape holds {expected}")]
    DataSize {
        path: PathBuf,
        name: String,
        expected: u64,
        got: u64,
    },
    #[error("{path}: more tensor data than the {count} declared tensors hold")]
    ExtraData { path: PathBuf, count: usize },
}

from_data_write_error!(SafetensorsWriteError);

/// One tensor as it will appear in the file (shape row-major, outermost first, as stored).
pub type PlannedSafetensor = PlannedTensor;

/// Accepts the tensor data in declaration order, back to back.
pub type SafetensorsDataWriter<W> = TensorDataWriter<W, SafetensorsWriteError>;

/// Collects tensor shapes and `__metadata__`; [`SafetensorsWriter::create`] starts the file.
#[derive(Debug, Default)]
pub struct SafetensorsWriter {
    plan: TensorPlan,
    metadata: BTreeMap<String, String>,
}

fn dtype_name(ty: GgmlType) -> Option<&'static str> {
    match ty {
        GgmlType::F32 => Some("F32"),
        GgmlType::F16 => Some("F16"),
        GgmlType::BF16 => Some("BF16"),
        _ => None,
    }
}

impl SafetensorsWriter {
    /// An empty writer; `__metadata__` starts as `{"format": "pt"}` as PyTorch's `save_file` writes.
    pub fn new() -> Self {
        let mut writer = Self::default();
        writer.metadata.insert("format".into(), "pt".into());
        writer
    }

    /// Sets a `__metadata__` entry (string to string).
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// Declares the next tensor (F32, F16 or BF16; shape row-major, outermost first).
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        shape: &[u64],
    ) -> Result<&PlannedSafetensor, SafetensorsWriteError> {
        let name = name.into();
        if dtype_name(ty).is_none() {
            return Err(SafetensorsWriteError::UnsupportedType { name, ty });
        }
        let n_bytes = shape
            .iter()
            .try_fold(ty.block_bytes() as u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| SafetensorsWriteError::BadShape {
                name: name.clone(),
                shape: shape.to_vec(),
            })?;
        self.plan
            .push(name, ty, shape, n_bytes, 1)
            .map_err(|name| SafetensorsWriteError::DuplicateTensor { name })
    }

    /// The tensors in file order.
    pub fn tensors(&self) -> &[PlannedSafetensor] {
        &self.plan.tensors
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes.
    fn header_json(&self) -> Vec<u8> {
        let mut map = Map::new();
        if !self.metadata.is_empty() {
            map.insert("__metadata__".into(), json!(self.metadata));
        }
        for t in &self.plan.tensors {
            let entry = json!({
                "dtype": dtype_name(t.ty),
                "shape": t.shape,
                "data_offsets": [t.offset, t.offset + t.n_bytes],
            });
            map.insert(t.name.clone(), entry);
        }
        let mut bytes = Value::Object(map).to_string().into_bytes();
        bytes.resize(bytes.len().next_multiple_of(8), b' ');
        bytes
    }

    /// Creates `path` and writes the header; tensor data follows through the returned writer.
    pub fn create(
        self,
        path: &Path,
    ) -> Result<SafetensorsDataWriter<BufWriter<File>>, SafetensorsWriteError> {
        self.write_header(create_buffered(path)?, path)
    }

    /// Writes the header into `sink`; `path` only names the output in errors.
    pub fn write_header<W: Write>(
        self,
        sink: W,
        path: &Path,
    ) -> Result<SafetensorsDataWriter<W>, SafetensorsWriteError> {
        let header = self.header_json();
        let length = (header.len() as u64).to_le_bytes();
        TensorDataWriter::start(sink, path, &[&length, &header], 1, self.plan.tensors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::SafeTensors;

    #[test]
    fn the_safetensors_crate_reads_what_we_write() {
        let mut w = SafetensorsWriter::new();
        w.add_tensor("b", GgmlType::F16, &[2, 2]).unwrap();
        w.add_tensor("a", GgmlType::F32, &[3]).unwrap();
        w.add_tensor("c", GgmlType::BF16, &[1]).unwrap();
        let mut data = w.write_header(Vec::new(), Path::new("mem")).unwrap();
        data.write_data(&[1, 2, 3, 4]).unwrap();
        data.write_data(&[5, 6, 7, 8]).unwrap();
        data.write_data(&[9; 12]).unwrap();
        data.write_data(&[10, 11]).unwrap();
        let bytes = data.finish().unwrap();
        assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()) % 8, 0);
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let b = st.tensor("b").unwrap();
        assert_eq!(b.dtype(), safetensors::Dtype::F16);
        assert_eq!(b.shape(), &[2, 2]);
        assert_eq!(b.data(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(st.tensor("a").unwrap().data(), &[9; 12]);
        assert_eq!(st.tensor("c").unwrap().dtype(), safetensors::Dtype::BF16);
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(meta.metadata().as_ref().unwrap()["format"], "pt");
    }

    #[test]
    fn quantized_types_and_short_data_are_errors() {
        let mut w = SafetensorsWriter::new();
        assert!(matches!(
            w.add_tensor("q", GgmlType::Q8_0, &[32]),
            Err(SafetensorsWriteError::UnsupportedType { .. })
        ));
        w.add_tensor("t", GgmlType::F32, &[2]).unwrap();
        let mut data = w.write_header(Vec::new(), Path::new("mem")).unwrap();
        data.write_data(&[0; 4]).unwrap();
        assert!(matches!(
            data.finish(),
            Err(SafetensorsWriteError::DataSize { got: 4, .. })
        ));
    }
}
