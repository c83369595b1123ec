//! `GgufFile`: an opened, fully validated GGUF file and its typed metadata accessors.

use super::FileError;
use super::gguf_parse::{ParsedGguf, parse};
use super::gguf_value::{GgufArray, GgufValue};
use super::storage::FileBytes;
use super::tensor_info::TensorInfo;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// A GGUF file whose header, metadata and tensor table have been validated against its bytes: every
/// tensor has a supported type, a whole number of blocks, an aligned offset and a byte range inside the
/// file that overlaps no other tensor.
///
/// Typed accessors (`u32`, `str`, `f32_array`, ...) return [`FileError::MissingKey`] when the key is
/// absent and [`FileError::WrongType`] naming the key and both types when it holds something else; the
/// `opt_*` variants return `Ok(None)` for an absent key. Integer accessors accept any GGUF integer type
/// whose value fits (llama.cpp writes u32 and i32 inconsistently).
pub struct GgufFile {
    path: String,
    bytes: FileBytes,
    version: u32,
    alignment: u64,
    data_start: u64,
    metadata: Vec<(String, GgufValue)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl GgufFile {
    /// Memory-maps and validates the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FileError> {
        let path = path.as_ref();
        Self::new(path.display().to_string(), FileBytes::map(path)?)
    }

    /// Validates a file embedded in the binary (`include_bytes!`); `name` stands for its path in errors.
    /// The slice is only guaranteed 1-byte aligned: read tensor data with unaligned-safe reads.
    pub fn from_static(name: &str, bytes: &'static [u8]) -> Result<Self, FileError> {
        Self::new(name.to_owned(), FileBytes::Static(bytes))
    }

    /// Validates an owned buffer (tests, fuzzing); `name` stands for its path in errors.
    pub fn from_vec(name: &str, bytes: Vec<u8>) -> Result<Self, FileError> {
        Self::new(name.to_owned(), FileBytes::Owned(bytes))
    }

    fn new(path: String, bytes: FileBytes) -> Result<Self, FileError> {
        let ParsedGguf {
            version,
            alignment,
            data_start,
            metadata,
            key_index,
            tensors,
            tensor_index,
        } = parse(&path, &bytes)?;
        Ok(Self {
            path,
            bytes,
            version,
            alignment,
            data_start,
            metadata,
            key_index,
            tensors,
            tensor_index,
        })
    }

    /// The path (or the name given to `from_static` / `from_vec`), as used in error messages.
    pub fn path_name(&self) -> &str {
        &self.path
    }

    /// GGUF version: 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Data alignment in bytes (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute offset of the data section.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// Size of the whole file in bytes.
    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The tensors in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`, or [`FileError::MissingTensor`].
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, FileError> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| FileError::MissingTensor {
                path: self.path.clone(),
                tensor: name.to_owned(),
            })
    }

    /// The data of `info`, which must come from this file's [`Self::tensors`].
    ///
    /// # Panics
    /// If `info` describes a range outside this file (a `TensorInfo` from another file): a caller bug,
    /// never a property of the file's contents, whose ranges were all checked at open.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> &[u8] {
        match info.data_in(&self.bytes) {
            Some(bytes) => bytes,
            None => panic!(
                "{}: tensor '{}' is not from this file",
                self.path, info.name
            ),
        }
    }

    /// The data of the tensor named `name`.
    pub fn tensor_data(&self, name: &str) -> Result<&[u8], FileError> {
        self.tensor(name).map(|info| self.tensor_bytes(info))
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// All metadata pairs in file order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = (&str, &GgufValue)> {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// `general.architecture`, e.g. `"llama"`, the prefix of the model's hyperparameter keys.
    pub fn architecture(&self) -> Result<&str, FileError> {
        self.str("general.architecture")
    }

    fn require(&self, key: &str) -> Result<&GgufValue, FileError> {
        self.get(key).ok_or_else(|| FileError::MissingKey {
            path: self.path.clone(),
            key: key.to_owned(),
        })
    }

    fn wrong_type(&self, key: &str, expected: &'static str, actual: String) -> FileError {
        FileError::WrongType {
            path: self.path.clone(),
            key: key.to_owned(),
            expected,
            actual,
        }
    }

    fn opt<'s, T>(
        &'s self,
        key: &str,
        get: fn(&'s Self, &str) -> Result<T, FileError>,
    ) -> Result<Option<T>, FileError> {
        if self.key_index.contains_key(key) {
            get(self, key).map(Some)
        } else {
            Ok(None)
        }
    }

    fn integer<T: TryFrom<i128>>(&self, key: &str, expected: &'static str) -> Result<T, FileError> {
        let value = self.require(key)?;
        let n = value
            .as_integer()
            .ok_or_else(|| self.wrong_type(key, expected, value.type_name()))?;
        T::try_from(n).map_err(|_| {
            self.wrong_type(
                key,
                expected,
                format!("{} {n} (out of range)", value.type_name()),
            )
        })
    }

    /// Any integer value that fits in a u32.
    pub fn u32(&self, key: &str) -> Result<u32, FileError> {
        self.integer(key, "u32")
    }

    /// Any integer value that fits in a u64.
    pub fn u64(&self, key: &str) -> Result<u64, FileError> {
        self.integer(key, "u64")
    }

    /// Any integer value that fits in an i64.
    pub fn i64(&self, key: &str) -> Result<i64, FileError> {
        self.integer(key, "i64")
    }

    /// An f32 value, or an f64 one narrowed to f32.
    pub fn f32(&self, key: &str) -> Result<f32, FileError> {
        match *self.require(key)? {
            GgufValue::F32(v) => Ok(v),
            GgufValue::F64(v) => Ok(v as f32),
            ref other => Err(self.wrong_type(key, "f32", other.type_name())),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool, FileError> {
        match *self.require(key)? {
            GgufValue::Bool(v) => Ok(v),
            ref other => Err(self.wrong_type(key, "bool", other.type_name())),
        }
    }

    pub fn str(&self, key: &str) -> Result<&str, FileError> {
        match self.require(key)? {
            GgufValue::String(v) => Ok(v),
            other => Err(self.wrong_type(key, "string", other.type_name())),
        }
    }

    /// An array of any element type.
    pub fn array(&self, key: &str) -> Result<&GgufArray, FileError> {
        match self.require(key)? {
            GgufValue::Array(v) => Ok(v),
            other => Err(self.wrong_type(key, "array", other.type_name())),
        }
    }

    /// An array of strings (e.g. `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    pub fn str_array(&self, key: &str) -> Result<&[String], FileError> {
        match self.array(key)? {
            GgufArray::String(v) => Ok(v),
            other => Err(self.wrong_type(
                key,
                "array[string]",
                format!("array[{}]", other.elem_type_name()),
            )),
        }
    }

    /// An array of f32 (e.g. `tokenizer.ggml.scores`).
    pub fn f32_array(&self, key: &str) -> Result<&[f32], FileError> {
        match self.array(key)? {
            GgufArray::F32(v) => Ok(v),
            other => Err(self.wrong_type(
                key,
                "array[f32]",
                format!("array[{}]", other.elem_type_name()),
            )),
        }
    }

    /// An array of any integer element type whose values all fit in i32 (e.g. `tokenizer.ggml.token_type`);
    /// borrowed when stored as i32.
    pub fn i32_array(&self, key: &str) -> Result<Cow<'_, [i32]>, FileError> {
        let array = self.array(key)?;
        if let GgufArray::I32(v) = array {
            return Ok(Cow::Borrowed(v));
        }
        let actual = || format!("array[{}]", array.elem_type_name());
        let ints = array
            .integers()
            .ok_or_else(|| self.wrong_type(key, "array[i32]", actual()))?;
        let converted: Option<Vec<i32>> = ints.map(|n| i32::try_from(n).ok()).collect();
        converted.map(Cow::Owned).ok_or_else(|| {
            self.wrong_type(
                key,
                "array[i32]",
                format!("{} with values out of range", actual()),
            )
        })
    }

    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>, FileError> {
        self.opt(key, Self::u32)
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, FileError> {
        self.opt(key, Self::u64)
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, FileError> {
        self.opt(key, Self::i64)
    }

    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>, FileError> {
        self.opt(key, Self::f32)
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, FileError> {
        self.opt(key, Self::bool)
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, FileError> {
        self.opt(key, Self::str)
    }

    pub fn opt_str_array(&self, key: &str) -> Result<Option<&[String]>, FileError> {
        self.opt(key, Self::str_array)
    }

    pub fn opt_f32_array(&self, key: &str) -> Result<Option<&[f32]>, FileError> {
        self.opt(key, Self::f32_array)
    }

    pub fn opt_i32_array(&self, key: &str) -> Result<Option<Cow<'_, [i32]>>, FileError> {
        self.opt(key, Self::i32_array)
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}
