//! Streaming single-file safetensors writer.
//!
//! Format (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian header
//! length N, N bytes of JSON `{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
//! "__metadata__": {...}}` padded with spaces to a multiple of 8 (as the `safetensors` crate's
//! `serialize` pads it), then the tensor bytes back to back in offset order.
//!
//! Shapes are declared first so the header can be written before any data, and the data then
//! streamed tensor by tensor: an 8B model in f16 (16 GB) never sits in memory.

use quant_formats::GgmlType;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
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

/// One tensor as it will appear in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedSafetensor {
    pub name: String,
    pub ty: GgmlType,
    /// Row-major, outermost first, as stored.
    pub shape: Vec<u64>,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    pub n_bytes: u64,
}

/// Collects tensor shapes and `__metadata__`; [`SafetensorsWriter::create`] starts the file.
#[derive(Debug, Default)]
pub struct SafetensorsWriter {
    tensors: Vec<PlannedSafetensor>,
    names: HashSet<String>,
    metadata: BTreeMap<String, String>,
    data_size: u64,
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
        if !self.names.insert(name.clone()) {
            return Err(SafetensorsWriteError::DuplicateTensor { name });
        }
        let offset = self.data_size;
        self.data_size = offset + n_bytes;
        self.tensors.push(PlannedSafetensor {
            name,
            ty,
            shape: shape.to_vec(),
            offset,
            n_bytes,
        });
        Ok(self.tensors.last().expect("just pushed"))
    }

    /// The tensors in file order.
    pub fn tensors(&self) -> &[PlannedSafetensor] {
        &self.tensors
    }

    /// The JSON header, padded with spaces to a multiple of 8 bytes.
    fn header_json(&self) -> Vec<u8> {
        let mut map = Map::new();
        if !self.metadata.is_empty() {
            map.insert("__metadata__".into(), json!(self.metadata));
        }
        for t in &self.tensors {
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
        let io = |source| SafetensorsWriteError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(io)?;
        self.write_header(BufWriter::with_capacity(1 << 20, file), path)
    }

    /// Writes the header into `sink`; `path` only names the output in errors.
    pub fn write_header<W: Write>(
        self,
        mut sink: W,
        path: &Path,
    ) -> Result<SafetensorsDataWriter<W>, SafetensorsWriteError> {
        let header = self.header_json();
        let io = |source| SafetensorsWriteError::Io {
            path: path.to_owned(),
            source,
        };
        sink.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        sink.write_all(&header).map_err(io)?;
        Ok(SafetensorsDataWriter {
            sink,
            path: path.to_owned(),
            tensors: self.tensors,
            current: 0,
            written: 0,
        })
    }
}

/// Accepts the tensor data in declaration order.
#[derive(Debug)]
pub struct SafetensorsDataWriter<W: Write> {
    sink: W,
    path: PathBuf,
    tensors: Vec<PlannedSafetensor>,
    current: usize,
    written: u64,
}

impl<W: Write> SafetensorsDataWriter<W> {
    /// The tensor whose bytes come next, or `None` when all are written.
    pub fn next_tensor(&self) -> Option<&PlannedSafetensor> {
        self.tensors.get(self.current)
    }

    /// Appends bytes (little-endian elements) to the current tensor; a piece may not cross into
    /// the next tensor.
    pub fn write_data(&mut self, bytes: &[u8]) -> Result<(), SafetensorsWriteError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(tensor) = self.tensors.get(self.current) else {
            return Err(SafetensorsWriteError::ExtraData {
                path: self.path.clone(),
                count: self.tensors.len(),
            });
        };
        let got = self.written + bytes.len() as u64;
        if got > tensor.n_bytes {
            return Err(SafetensorsWriteError::DataSize {
                path: self.path.clone(),
                name: tensor.name.clone(),
                expected: tensor.n_bytes,
                got,
            });
        }
        self.sink
            .write_all(bytes)
            .map_err(|source| SafetensorsWriteError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.written = got;
        if got == tensor.n_bytes {
            self.current += 1;
            self.written = 0;
        }
        Ok(())
    }

    /// Checks that every tensor got all its bytes, flushes, and returns the sink.
    pub fn finish(mut self) -> Result<W, SafetensorsWriteError> {
        if let Some(tensor) = self.tensors.get(self.current) {
            return Err(SafetensorsWriteError::DataSize {
                path: self.path,
                name: tensor.name.clone(),
                expected: tensor.n_bytes,
                got: self.written,
            });
        }
        self.sink
            .flush()
            .map_err(|source| SafetensorsWriteError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(self.sink)
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
