//! Streaming GGUF v3 writer.
//!
//! Layout as in ggml's `gguf.cpp` (`gguf_write_to_buf`) and gguf-py's `GGUFWriter`: header (magic,
//! version 3, tensor count, kv count), metadata key/values, tensor infos (name, n_dims, ne innermost
//! first, type id, offset relative to the data section), padding to `general.alignment`, then the
//! tensor data, each tensor starting on an aligned offset.
//!
//! Writing is two-phase so that a model larger than memory can be written: [`GgufWriter`] collects
//! metadata and tensor shapes (offsets follow from shapes and types), [`GgufWriter::create`] writes the
//! header, and [`GgufDataWriter`] then accepts each tensor's bytes in order, in as many pieces as the
//! producer likes.

use super::data_writer::{
    PlannedTensor, TensorDataWriter, TensorPlan, create_buffered, from_data_write_error,
};
use super::gguf_value::{GgufArray, GgufValue};
use quant_formats::GgmlType;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// `GGUF` in little-endian byte order.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";
const GGUF_VERSION: u32 = 3;
/// ggml's `GGUF_DEFAULT_ALIGNMENT`.
pub const GGUF_DEFAULT_ALIGNMENT: u64 = 32;

/// Errors from writing a GGUF file; each names the file and the key or tensor.
#[derive(Debug, thiserror::Error)]
pub enum GgufWriteError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("GGUF writer: duplicate metadata key '{key}'")]
    DuplicateKey { key: String },
    #[error("GGUF writer: duplicate tensor '{name}'")]
    DuplicateTensor { name: String },
    #[error("GGUF writer: tensor '{name}': shape {shape:?} is not 1 to 4 non-zero dimensions")]
    BadShape { name: String, shape: Vec<u64> },
    #[error("GGUF writer: tensor '{name}': {source}")]
    Layout {
        name: String,
        source: quant_formats::QuantError,
    },
    #[error("GGUF writer: alignment {0} is not a power of two")]
    BadAlignment(u64),
    #[error("{path}: tensor '{name}': got {got} bytes of data, its layout holds {expected}")]
    DataSize {
        path: PathBuf,
        name: String,
        expected: u64,
        got: u64,
    },
    #[error("{path}: more tensor data than the {count} declared tensors hold")]
    ExtraData { path: PathBuf, count: usize },
}

from_data_write_error!(GgufWriteError);

/// Accepts the tensor data in declaration order; pads each tensor to the alignment.
pub type GgufDataWriter<W> = TensorDataWriter<W, GgufWriteError>;

/// Collects metadata and tensor layouts; [`GgufWriter::create`] starts the file.
#[derive(Debug)]
pub struct GgufWriter {
    alignment: u64,
    metadata: Vec<(String, GgufValue)>,
    keys: HashSet<String>,
    plan: TensorPlan,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// A writer with the default alignment of 32 bytes (no `general.alignment` key is written).
    pub fn new() -> Self {
        GgufWriter {
            alignment: GGUF_DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            keys: HashSet::new(),
            plan: TensorPlan::default(),
        }
    }

    /// A writer with another data alignment, recorded as `general.alignment` (u32).
    /// Call before adding tensors.
    pub fn with_alignment(alignment: u64) -> Result<Self, GgufWriteError> {
        if !alignment.is_power_of_two() || alignment > u64::from(u32::MAX) {
            return Err(GgufWriteError::BadAlignment(alignment));
        }
        let mut writer = Self::new();
        writer.alignment = alignment;
        if alignment != GGUF_DEFAULT_ALIGNMENT {
            writer.add_metadata("general.alignment", GgufValue::U32(alignment as u32))?;
        }
        Ok(writer)
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Adds one key; keys are written in insertion order.
    pub fn add_metadata(
        &mut self,
        key: impl Into<String>,
        value: GgufValue,
    ) -> Result<(), GgufWriteError> {
        let key = key.into();
        if !self.keys.insert(key.clone()) {
            return Err(GgufWriteError::DuplicateKey { key });
        }
        self.metadata.push((key, value));
        Ok(())
    }

    /// Declares the next tensor. `shape` is row-major (outermost first); its last (innermost)
    /// dimension must be a whole number of `ty` blocks.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        ty: GgmlType,
        shape: &[u64],
    ) -> Result<&PlannedTensor, GgufWriteError> {
        let name = name.into();
        if shape.is_empty() || shape.len() > 4 || shape.contains(&0) {
            return Err(GgufWriteError::BadShape {
                name,
                shape: shape.to_vec(),
            });
        }
        let row = *shape.last().unwrap_or(&1);
        let layout_error = |source| GgufWriteError::Layout {
            name: name.clone(),
            source,
        };
        ty.blocks_for(usize::try_from(row).unwrap_or(usize::MAX))
            .map_err(layout_error)?;
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| GgufWriteError::BadShape {
                name: name.clone(),
                shape: shape.to_vec(),
            })?;
        let n_bytes = ty.bytes_for(elements).map_err(layout_error)?;
        self.plan
            .push(name, ty, shape, n_bytes, self.alignment)
            .map_err(|name| GgufWriteError::DuplicateTensor { name })
    }

    /// The tensors in file order.
    pub fn tensors(&self) -> &[PlannedTensor] {
        &self.plan.tensors
    }

    /// Bytes of the data section (every tensor padded to the alignment).
    pub fn data_size(&self) -> u64 {
        self.plan.data_size
    }

    /// Creates `path` and writes the header; tensor data follows through the returned writer.
    pub fn create(self, path: &Path) -> Result<GgufDataWriter<BufWriter<File>>, GgufWriteError> {
        self.write_header(create_buffered(path)?, path)
    }

    /// Writes the header into `sink`; `path` only names the output in errors.
    pub fn write_header<W: Write>(
        self,
        sink: W,
        path: &Path,
    ) -> Result<GgufDataWriter<W>, GgufWriteError> {
        let mut header = Vec::new();
        header.extend_from_slice(GGUF_MAGIC);
        header.extend_from_slice(&GGUF_VERSION.to_le_bytes());
        header.extend_from_slice(&(self.plan.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut header, key);
            header.extend_from_slice(&value_type_id(value).to_le_bytes());
            put_value(&mut header, value);
        }
        for tensor in &self.plan.tensors {
            put_string(&mut header, &tensor.name);
            header.extend_from_slice(&(tensor.shape.len() as u32).to_le_bytes());
            for dim in tensor.shape.iter().rev() {
                header.extend_from_slice(&dim.to_le_bytes());
            }
            header.extend_from_slice(&tensor.ty.id().to_le_bytes());
            header.extend_from_slice(&tensor.offset.to_le_bytes());
        }
        let padded = (header.len() as u64).next_multiple_of(self.alignment) as usize;
        header.resize(padded, 0);
        TensorDataWriter::start(sink, path, &[&header], self.alignment, self.plan.tensors)
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The `enum gguf_type` id (ggml/include/gguf.h) of a value.
fn value_type_id(value: &GgufValue) -> u32 {
    match value {
        GgufValue::U8(_) => 0,
        GgufValue::I8(_) => 1,
        GgufValue::U16(_) => 2,
        GgufValue::I16(_) => 3,
        GgufValue::U32(_) => 4,
        GgufValue::I32(_) => 5,
        GgufValue::F32(_) => 6,
        GgufValue::Bool(_) => 7,
        GgufValue::String(_) => 8,
        GgufValue::Array(_) => 9,
        GgufValue::U64(_) => 10,
        GgufValue::I64(_) => 11,
        GgufValue::F64(_) => 12,
    }
}

fn array_element_type_id(array: &GgufArray) -> u32 {
    match array {
        GgufArray::U8(_) => 0,
        GgufArray::I8(_) => 1,
        GgufArray::U16(_) => 2,
        GgufArray::I16(_) => 3,
        GgufArray::U32(_) => 4,
        GgufArray::I32(_) => 5,
        GgufArray::F32(_) => 6,
        GgufArray::Bool(_) => 7,
        GgufArray::String(_) => 8,
        GgufArray::Array(_) => 9,
        GgufArray::U64(_) => 10,
        GgufArray::I64(_) => 11,
        GgufArray::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, value: &GgufValue) {
    match value {
        GgufValue::U8(v) => out.push(*v),
        GgufValue::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::Bool(v) => out.push(u8::from(*v)),
        GgufValue::String(s) => put_string(out, s),
        GgufValue::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        GgufValue::Array(array) => put_array(out, array),
    }
}

/// Element type, count, items; a nested array is written the same way without a further type
/// tag, as gguf-py's `GGUFWriter._pack_val` does.
fn put_array(out: &mut Vec<u8>, array: &GgufArray) {
    fn put_all<T: Copy>(out: &mut Vec<u8>, items: &[T], put: impl Fn(&mut Vec<u8>, T)) {
        out.extend_from_slice(&(items.len() as u64).to_le_bytes());
        for &item in items {
            put(out, item);
        }
    }
    out.extend_from_slice(&array_element_type_id(array).to_le_bytes());
    match array {
        GgufArray::U8(v) => put_all(out, v, |o, x| o.push(x)),
        GgufArray::I8(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::U16(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I16(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::U32(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I32(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::F32(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::Bool(v) => put_all(out, v, |o, x| o.push(u8::from(x))),
        GgufArray::U64(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::I64(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::F64(v) => put_all(out, v, |o, x| o.extend_from_slice(&x.to_le_bytes())),
        GgufArray::String(v) => {
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for s in v {
                put_string(out, s);
            }
        }
        GgufArray::Array(v) => {
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            for inner in v {
                put_array(out, inner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(writer: GgufWriter) -> Vec<u8> {
        let data = writer.write_header(Vec::new(), Path::new("mem")).unwrap();
        data.finish().unwrap_or_default()
    }

    #[test]
    fn header_matches_the_gguf_layout_byte_for_byte() {
        let mut w = GgufWriter::new();
        w.add_metadata("a", GgufValue::U32(7)).unwrap();
        w.add_tensor("t", GgmlType::F32, &[2, 3]).unwrap();
        let data = w.write_header(Vec::new(), Path::new("mem")).unwrap();
        let mut data = data;
        data.write_data(&[1u8; 24]).unwrap();
        let bytes = data.finish().unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"GGUF");
        expected.extend_from_slice(&3u32.to_le_bytes());
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.push(b'a');
        expected.extend_from_slice(&4u32.to_le_bytes());
        expected.extend_from_slice(&7u32.to_le_bytes());
        expected.extend_from_slice(&1u64.to_le_bytes());
        expected.push(b't');
        expected.extend_from_slice(&2u32.to_le_bytes());
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(&2u64.to_le_bytes());
        expected.extend_from_slice(&0u32.to_le_bytes());
        expected.extend_from_slice(&0u64.to_le_bytes());
        // 82 header bytes padded to 96; 24 data bytes padded to 32.
        assert_eq!(expected.len(), 82);
        expected.resize(96, 0);
        expected.extend_from_slice(&[1u8; 24]);
        expected.resize(128, 0);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn offsets_are_aligned_and_partial_blocks_rejected() {
        let mut w = GgufWriter::new();
        w.add_tensor("a", GgmlType::Q8_0, &[1, 32]).unwrap();
        let b = w.add_tensor("b", GgmlType::F32, &[3]).unwrap().clone();
        assert_eq!(b.offset, 64);
        assert!(matches!(
            w.add_tensor("c", GgmlType::Q4_K, &[2, 128]),
            Err(GgufWriteError::Layout { .. })
        ));
        assert!(matches!(
            w.add_tensor("a", GgmlType::F32, &[1]),
            Err(GgufWriteError::DuplicateTensor { .. })
        ));
        w.add_metadata("k", GgufValue::Bool(true)).unwrap();
        assert!(matches!(
            w.add_metadata("k", GgufValue::Bool(false)),
            Err(GgufWriteError::DuplicateKey { .. })
        ));
        assert_eq!(header_bytes(GgufWriter::new()).len(), 32);
    }

    #[test]
    fn missing_or_extra_data_is_an_error() {
        let mut w = GgufWriter::new();
        w.add_tensor("t", GgmlType::F16, &[4]).unwrap();
        let mut data = w.write_header(Vec::new(), Path::new("mem")).unwrap();
        data.write_data(&[0; 6]).unwrap();
        assert!(matches!(
            data.write_data(&[0; 4]),
            Err(GgufWriteError::DataSize { .. })
        ));
        assert!(matches!(
            data.finish(),
            Err(GgufWriteError::DataSize { got: 6, .. })
        ));
    }

    #[test]
    fn the_reader_gets_back_every_value_type_and_the_tensor_bytes() {
        use crate::files::GgufFile;
        let values = [
            ("u8", GgufValue::U8(200)),
            ("i8", GgufValue::I8(-100)),
            ("u16", GgufValue::U16(60000)),
            ("i16", GgufValue::I16(-30000)),
            ("u32", GgufValue::U32(4_000_000_000)),
            ("i32", GgufValue::I32(-2_000_000_000)),
            ("u64", GgufValue::U64(u64::MAX - 1)),
            ("i64", GgufValue::I64(i64::MIN + 1)),
            ("f32", GgufValue::F32(-1.5e-7)),
            ("f64", GgufValue::F64(std::f64::consts::PI)),
            ("bool", GgufValue::Bool(true)),
            ("string", GgufValue::String("héllo ▁world".into())),
            (
                "strings",
                GgufValue::Array(GgufArray::String(vec![
                    "a".into(),
                    String::new(),
                    "ü".into(),
                ])),
            ),
            ("f32s", GgufValue::Array(GgufArray::F32(vec![0.5, -2.0]))),
            ("i32s", GgufValue::Array(GgufArray::I32(vec![1, -1, 3]))),
            ("u8s", GgufValue::Array(GgufArray::U8(vec![]))),
            (
                "bools",
                GgufValue::Array(GgufArray::Bool(vec![true, false])),
            ),
            ("f64s", GgufValue::Array(GgufArray::F64(vec![1e300]))),
            ("u64s", GgufValue::Array(GgufArray::U64(vec![7]))),
            (
                "nested",
                GgufValue::Array(GgufArray::Array(vec![
                    GgufArray::U16(vec![1, 2]),
                    GgufArray::String(vec!["x".into()]),
                ])),
            ),
        ];
        let mut w = GgufWriter::new();
        for (key, value) in &values {
            w.add_metadata(*key, value.clone()).unwrap();
        }
        w.add_tensor("q", GgmlType::Q8_0, &[2, 32]).unwrap();
        w.add_tensor("v", GgmlType::F32, &[3]).unwrap();
        let mut data = w.write_header(Vec::new(), Path::new("mem")).unwrap();
        let q: Vec<u8> = (0..68).map(|i| i as u8).collect();
        data.write_data(&q[..10]).unwrap();
        data.write_data(&q[10..]).unwrap();
        data.write_data(&[9; 12]).unwrap();
        let file = GgufFile::from_vec("mem", data.finish().unwrap()).unwrap();
        assert_eq!(file.version(), 3);
        assert_eq!(file.metadata().len(), values.len());
        for (key, value) in &values {
            assert_eq!(file.get(key), Some(value), "{key}");
        }
        let tq = file.tensor("q").unwrap();
        assert_eq!((tq.ty, tq.shape.as_slice()), (GgmlType::Q8_0, &[2, 32][..]));
        assert_eq!(file.tensor_bytes(tq), &q[..]);
        assert_eq!(file.tensor_data("v").unwrap(), &[9; 12]);
    }
}
