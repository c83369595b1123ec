//! Model files: GGUF and Hugging Face safetensors, opened with every offset, size and shape validated.
//!
//! Model files are untrusted input: a malformed file is a [`FileError`] naming the file, the key or
//! tensor and the reason, never a panic, an out-of-bounds read or an allocation larger than the file
//! could justify.
//!
//! The GGUF parser is our own, over the mapped `&[u8]`, rather than `gguf-rs-lib` 0.3.3, because that
//! crate (a) rejects GGUF version 2 (`GGUFHeader::validate` requires `version == GGUF_VERSION`, 3), which
//! older llama.cpp conversions still use; (b) parses through `std::io::Read`, copying every string out of
//! a stream, so it cannot borrow tensor data from an `include_bytes!` slice; (c) reports errors without
//! the file path and, for type errors, without the tensor name; and (d) has its own `TensorType` table,
//! a second source of truth beside [`quant_formats::GgmlType`].

mod byte_reader;
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

pub use error::FileError;
pub use gguf::GgufFile;
pub use gguf_parse::{DEFAULT_ALIGNMENT, MAX_ALIGNMENT, MAX_DIMS};
pub use gguf_value::{GgufArray, GgufValue, MAX_ARRAY_DEPTH};
pub use gguf_writer::{
    GGUF_DEFAULT_ALIGNMENT, GgufDataWriter, GgufWriteError, GgufWriter, PlannedTensor,
};
pub use safetensors_checkpoint::SafetensorsCheckpoint;
pub use safetensors_writer::{
    PlannedSafetensor, SafetensorsDataWriter, SafetensorsWriteError, SafetensorsWriter,
};
pub use tensor_info::{MAX_TENSOR_ELEMENTS, TensorInfo};
pub use tensor_source::{ModelFile, TensorSource};
