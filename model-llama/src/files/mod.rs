//! Model files: GGUF and Hugging Face safetensors, opened with every offset, size and shape validated.
//!
//! Model files are untrusted input: a malformed file is a [`FileError`] naming the file, the key or
//! tensor and the reason, never a panic, an out-of-bounds read or an allocation larger than the file
//! could justify.
//!
//! - [`GgufFile`] (`open`, `from_static`, `from_vec`): metadata through typed accessors
//!   (`u32`, `f32`, `str`, `bool`, `str_array`, `f32_array`, `i32_array`, `opt_*`, `metadata()`), tensors
//!   through `tensors()`, `tensor(name)` and `tensor_bytes(info)`.
//! - [`SafetensorsCheckpoint`]: a checkpoint directory, single file or sharded, with its `config.json`.
//! - [`TensorSource`] / [`ModelFile`]: either format behind one view, for `realizar info` and the loaders.
//! - [`TensorInfo::shape`] is outermost first in both formats (GGUF `ne` reversed): a weight is
//!   `[n_out, n_in]`.
//!
//! Checks on a GGUF file: magic; version 2 or 3; tensor and kv counts, string and array lengths no more
//! than the bytes left could hold (checked before allocating); UTF-8 strings; known value types; arrays
//! nested at most [`MAX_ARRAY_DEPTH`] deep; bools 0 or 1; unique keys; `general.alignment` a power of two
//! up to [`MAX_ALIGNMENT`]; per tensor: unique name, 1..=[`MAX_DIMS`] dimensions each at least 1, at most
//! [`MAX_TENSOR_ELEMENTS`] elements, a supported [`quant_formats::GgmlType`], the innermost dimension a
//! whole number of blocks, an aligned offset, data inside the file and overlapping no other tensor.
//!
//! The GGUF parser is our own, over the mapped `&[u8]`, rather than `gguf-rs-lib` 0.3.3, because that
//! crate (a) rejects GGUF version 2 (`GGUFHeader::validate` requires `version == GGUF_VERSION`, 3), which
//! older llama.cpp conversions still use; (b) parses through `std::io::Read`, copying every string out of
//! a stream, so it cannot borrow tensor data from an `include_bytes!` slice; (c) reports errors without
//! the file path and, for type errors, without the tensor name; and (d) has its own `TensorType` table,
//! a second source of truth beside [`quant_formats::GgmlType`].

mod byte_reader;
mod data_writer;
mod error;
mod gguf;
mod gguf_parse;
mod gguf_value;
mod gguf_writer;
mod safetensors_checkpoint;
mod safetensors_writer;
mod storage;
mod tensor_info;
mod tensor_source;

pub use data_writer::{PlannedTensor, TensorDataWriter};
pub use error::FileError;
pub use gguf::GgufFile;
pub use gguf_parse::{DEFAULT_ALIGNMENT, MAX_ALIGNMENT, MAX_DIMS};
pub use gguf_value::{GgufArray, GgufValue, MAX_ARRAY_DEPTH};
pub use gguf_writer::{GGUF_DEFAULT_ALIGNMENT, GgufDataWriter, GgufWriteError, GgufWriter};
pub use safetensors_checkpoint::SafetensorsCheckpoint;
pub use safetensors_writer::{
    PlannedSafetensor, SafetensorsDataWriter, SafetensorsWriteError, SafetensorsWriter,
};
pub use tensor_info::{MAX_TENSOR_ELEMENTS, TensorInfo};
pub use tensor_source::{ModelFile, TensorSource};
