//! GGUF metadata values and their parsing.
//!
//! Value type ids from ggml's `enum gguf_type` (ggml/include/gguf.h):
//! <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md#file-structure>.

use super::FileError;
use super::byte_reader::ByteReader;
use std::fmt;

/// Arrays nested deeper than this (array of array of ...) are rejected.
pub const MAX_ARRAY_DEPTH: usize = 3;

/// One metadata value. Arrays keep their element type.
#[derive(Clone, Debug, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(GgufArray),
}

/// A metadata array: a homogeneous vector of one GGUF value type.
#[derive(Clone, Debug, PartialEq)]
pub enum GgufArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<GgufArray>),
}

impl GgufValue {
    /// The GGUF type name, e.g. `"u32"`, `"string"`, `"array[f32]"`.
    pub fn type_name(&self) -> String {
        match self {
            GgufValue::Array(a) => format!("array[{}]", a.elem_type_name()),
            other => scalar_type_name(other).to_owned(),
        }
    }

    /// The value as an i128 when it is any integer type (bool excluded).
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            GgufValue::U8(v) => v.into(),
            GgufValue::I8(v) => v.into(),
            GgufValue::U16(v) => v.into(),
            GgufValue::I16(v) => v.into(),
            GgufValue::U32(v) => v.into(),
            GgufValue::I32(v) => v.into(),
            GgufValue::U64(v) => v.into(),
            GgufValue::I64(v) => v.into(),
            _ => return None,
        })
    }
}

fn scalar_type_name(v: &GgufValue) -> &'static str {
    match v {
        GgufValue::U8(_) => "u8",
        GgufValue::I8(_) => "i8",
        GgufValue::U16(_) => "u16",
        GgufValue::I16(_) => "i16",
        GgufValue::U32(_) => "u32",
        GgufValue::I32(_) => "i32",
        GgufValue::U64(_) => "u64",
        GgufValue::I64(_) => "i64",
        GgufValue::F32(_) => "f32",
        GgufValue::F64(_) => "f64",
        GgufValue::Bool(_) => "bool",
        GgufValue::String(_) => "string",
        GgufValue::Array(_) => "array",
    }
}

impl GgufArray {
    pub fn len(&self) -> usize {
        match self {
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

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type name, e.g. `"f32"` or `"array"`.
    pub fn elem_type_name(&self) -> &'static str {
        match self {
            GgufArray::U8(_) => "u8",
            GgufArray::I8(_) => "i8",
            GgufArray::U16(_) => "u16",
            GgufArray::I16(_) => "i16",
            GgufArray::U32(_) => "u32",
            GgufArray::I32(_) => "i32",
            GgufArray::U64(_) => "u64",
            GgufArray::I64(_) => "i64",
            GgufArray::F32(_) => "f32",
            GgufArray::F64(_) => "f64",
            GgufArray::Bool(_) => "bool",
            GgufArray::String(_) => "string",
            GgufArray::Array(_) => "array",
        }
    }

    /// The elements as i128 when the element type is an integer type.
    pub fn integers(&self) -> Option<Box<dyn Iterator<Item = i128> + '_>> {
        fn it<T: Copy + Into<i128>>(v: &[T]) -> Box<dyn Iterator<Item = i128> + '_> {
            Box::new(v.iter().map(|&x| x.into()))
        }
        Some(match self {
            GgufArray::U8(v) => it(v),
            GgufArray::I8(v) => it(v),
            GgufArray::U16(v) => it(v),
            GgufArray::I16(v) => it(v),
            GgufArray::U32(v) => it(v),
            GgufArray::I32(v) => it(v),
            GgufArray::U64(v) => it(v),
            GgufArray::I64(v) => it(v),
            _ => return None,
        })
    }
}

impl fmt::Display for GgufValue {
    /// Scalars as themselves, strings quoted, arrays as `[type; len]` (for `realizar info`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufValue::U8(v) => write!(f, "{v}"),
            GgufValue::I8(v) => write!(f, "{v}"),
            GgufValue::U16(v) => write!(f, "{v}"),
            GgufValue::I16(v) => write!(f, "{v}"),
            GgufValue::U32(v) => write!(f, "{v}"),
            GgufValue::I32(v) => write!(f, "{v}"),
            GgufValue::U64(v) => write!(f, "{v}"),
            GgufValue::I64(v) => write!(f, "{v}"),
            GgufValue::F32(v) => write!(f, "{v}"),
            GgufValue::F64(v) => write!(f, "{v}"),
            GgufValue::Bool(v) => write!(f, "{v}"),
            GgufValue::String(v) => write!(f, "{v:?}"),
            GgufValue::Array(a) => write!(f, "[{}; {}]", a.elem_type_name(), a.len()),
        }
    }
}

const TYPE_U8: u32 = 0;
const TYPE_I8: u32 = 1;
const TYPE_U16: u32 = 2;
const TYPE_I16: u32 = 3;
const TYPE_U32: u32 = 4;
const TYPE_I32: u32 = 5;
const TYPE_F32: u32 = 6;
const TYPE_BOOL: u32 = 7;
const TYPE_STRING: u32 = 8;
const TYPE_ARRAY: u32 = 9;
const TYPE_U64: u32 = 10;
const TYPE_I64: u32 = 11;
const TYPE_F64: u32 = 12;

/// The fewest file bytes one value of type `ty` takes: the bound for array counts.
fn min_bytes(ty: u32) -> usize {
    match ty {
        TYPE_U8 | TYPE_I8 | TYPE_BOOL => 1,
        TYPE_U16 | TYPE_I16 => 2,
        TYPE_U32 | TYPE_I32 | TYPE_F32 => 4,
        TYPE_U64 | TYPE_I64 | TYPE_F64 | TYPE_STRING => 8,
        TYPE_ARRAY => 12,
        _ => 1,
    }
}

/// Parses the value of metadata key `key`, whose type id has just been read.
pub(crate) fn read_value(
    r: &mut ByteReader<'_>,
    key: &str,
    ty: u32,
) -> Result<GgufValue, FileError> {
    let what = || format!("key '{key}'");
    Ok(match ty {
        TYPE_U8 => GgufValue::U8(r.u8(&what)?),
        TYPE_I8 => GgufValue::I8(r.u8(&what)? as i8),
        TYPE_U16 => GgufValue::U16(u16::from_le_bytes(r.array(&what)?)),
        TYPE_I16 => GgufValue::I16(i16::from_le_bytes(r.array(&what)?)),
        TYPE_U32 => GgufValue::U32(r.u32(&what)?),
        TYPE_I32 => GgufValue::I32(r.u32(&what)? as i32),
        TYPE_U64 => GgufValue::U64(r.u64(&what)?),
        TYPE_I64 => GgufValue::I64(r.u64(&what)? as i64),
        TYPE_F32 => GgufValue::F32(f32::from_le_bytes(r.array(&what)?)),
        TYPE_F64 => GgufValue::F64(f64::from_le_bytes(r.array(&what)?)),
        TYPE_BOOL => GgufValue::Bool(read_bool(r, key)?),
        TYPE_STRING => GgufValue::String(r.str(&what)?.to_owned()),
        TYPE_ARRAY => GgufValue::Array(read_array(r, key, 1)?),
        other => return Err(unknown_type(r, key, other)),
    })
}

fn unknown_type(r: &ByteReader<'_>, key: &str, ty: u32) -> FileError {
    FileError::BadMetadata {
        path: r.path().to_owned(),
        key: key.to_owned(),
        reason: format!("unknown value type id {ty}"),
    }
}

fn read_bool(r: &mut ByteReader<'_>, key: &str) -> Result<bool, FileError> {
    match r.u8(&|| format!("key '{key}'"))? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(FileError::BadMetadata {
            path: r.path().to_owned(),
            key: key.to_owned(),
            reason: format!("bool byte is {other}, expected 0 or 1"),
        }),
    }
}

fn read_vec<T, const N: usize>(
    r: &mut ByteReader<'_>,
    n: usize,
    what: &dyn Fn() -> String,
    decode: fn([u8; N]) -> T,
) -> Result<Vec<T>, FileError> {
    let bytes = r.take(n * N, what)?;
    Ok(bytes
        .chunks_exact(N)
        .map(|c| decode(c.try_into().unwrap_or([0; N])))
        .collect())
}

/// An array value at nesting `depth` (1 = the key's own value).
fn read_array(r: &mut ByteReader<'_>, key: &str, depth: usize) -> Result<GgufArray, FileError> {
    let what = || format!("key '{key}' (array)");
    if depth > MAX_ARRAY_DEPTH {
        return Err(FileError::BadMetadata {
            path: r.path().to_owned(),
            key: key.to_owned(),
            reason: format!("arrays nested more than {MAX_ARRAY_DEPTH} deep"),
        });
    }
    let ty = r.u32(&what)?;
    if ty > TYPE_F64 {
        return Err(unknown_type(r, key, ty));
    }
    let n = r.count(min_bytes(ty), &|| format!("key '{key}' (array length)"))?;
    Ok(match ty {
        TYPE_U8 => GgufArray::U8(read_vec(r, n, &what, |[b]| b)?),
        TYPE_I8 => GgufArray::I8(read_vec(r, n, &what, |[b]| b as i8)?),
        TYPE_U16 => GgufArray::U16(read_vec(r, n, &what, u16::from_le_bytes)?),
        TYPE_I16 => GgufArray::I16(read_vec(r, n, &what, i16::from_le_bytes)?),
        TYPE_U32 => GgufArray::U32(read_vec(r, n, &what, u32::from_le_bytes)?),
        TYPE_I32 => GgufArray::I32(read_vec(r, n, &what, i32::from_le_bytes)?),
        TYPE_U64 => GgufArray::U64(read_vec(r, n, &what, u64::from_le_bytes)?),
        TYPE_I64 => GgufArray::I64(read_vec(r, n, &what, i64::from_le_bytes)?),
        TYPE_F32 => GgufArray::F32(read_vec(r, n, &what, f32::from_le_bytes)?),
        TYPE_F64 => GgufArray::F64(read_vec(r, n, &what, f64::from_le_bytes)?),
        TYPE_BOOL => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(read_bool(r, key)?);
            }
            GgufArray::Bool(out)
        }
        TYPE_STRING => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(r.str(&|| format!("key '{key}' (element {i})"))?.to_owned());
            }
            GgufArray::String(out)
        }
        _ => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(read_array(r, key, depth + 1)?);
            }
            GgufArray::Array(out)
        }
    })
}
