//! Malformed GGUF files: each is a typed error naming the file and the key or tensor, never a panic.
//!
//! The files are built byte by byte here (layout from ggml/docs/gguf.md), independently of our writer.

use model_llama::files::{FileError, GgufArray, GgufFile, GgufValue};
use quant_formats::{GgmlType, QuantError};

const NAME: &str = "test.gguf";
const TYPE_U8: u32 = 0;
const TYPE_U32: u32 = 4;
const TYPE_I32: u32 = 5;
const TYPE_F32: u32 = 6;
const TYPE_BOOL: u32 = 7;
const TYPE_STRING: u32 = 8;
const TYPE_ARRAY: u32 = 9;
const F32_ID: u32 = 0;
const Q8_0_ID: u32 = 8;

fn gguf_str(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// A GGUF file under construction: raw kvs and tensor infos, then padding and the data section.
#[derive(Clone)]
struct Builder {
    magic: [u8; 4],
    version: u32,
    tensor_count: Option<u64>,
    kv_count: Option<u64>,
    kvs: Vec<Vec<u8>>,
    infos: Vec<Vec<u8>>,
    alignment: usize,
    data: Vec<u8>,
}

impl Builder {
    fn new() -> Self {
        Self {
            magic: *b"GGUF",
            version: 3,
            tensor_count: None,
            kv_count: None,
            kvs: Vec::new(),
            infos: Vec::new(),
            alignment: 32,
            data: Vec::new(),
        }
    }

    fn kv_raw(mut self, key: &[u8], ty: u32, value: &[u8]) -> Self {
        let mut kv = gguf_str(key);
        kv.extend_from_slice(&ty.to_le_bytes());
        kv.extend_from_slice(value);
        self.kvs.push(kv);
        self
    }

    fn kv_array(self, key: &str, elem_ty: u32, count: u64, elems: &[u8]) -> Self {
        let mut v = elem_ty.to_le_bytes().to_vec();
        v.extend_from_slice(&count.to_le_bytes());
        v.extend_from_slice(elems);
        self.kv_raw(key.as_bytes(), TYPE_ARRAY, &v)
    }

    fn tensor(mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> Self {
        let mut info = gguf_str(name.as_bytes());
        info.extend_from_slice(&(ne.len() as u32).to_le_bytes());
        for d in ne {
            info.extend_from_slice(&d.to_le_bytes());
        }
        info.extend_from_slice(&ty.to_le_bytes());
        info.extend_from_slice(&offset.to_le_bytes());
        self.infos.push(info);
        self
    }

    fn data(mut self, data: Vec<u8>) -> Self {
        self.data = data;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.magic.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(
            &self
                .tensor_count
                .unwrap_or(self.infos.len() as u64)
                .to_le_bytes(),
        );
        out.extend_from_slice(&self.kv_count.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        self.kvs
            .iter()
            .chain(&self.infos)
            .for_each(|part| out.extend_from_slice(part));
        if !self.data.is_empty() {
            out.resize(out.len().div_ceil(self.alignment) * self.alignment, 0);
            out.extend_from_slice(&self.data);
        }
        out
    }

    fn open(&self) -> Result<GgufFile, FileError> {
        GgufFile::from_vec(NAME, self.bytes())
    }
}

fn str_array(items: &[&str]) -> Vec<u8> {
    items.iter().flat_map(|s| gguf_str(s.as_bytes())).collect()
}

/// Tensor "a": F32 [2, 3] at 0 (24 bytes); tensor "b": Q8_0 [2, 32] at 32 (2 blocks, 68 bytes).
fn valid() -> Builder {
    let mut data: Vec<u8> = (0..6)
        .flat_map(|i| (i as f32 + 0.5).to_le_bytes())
        .collect();
    data.resize(32, 0);
    data.extend((0..68).map(|i| i as u8));
    Builder::new()
        .kv_raw(b"general.architecture", TYPE_STRING, &gguf_str(b"llama"))
        .kv_raw(b"llama.block_count", TYPE_U32, &6u32.to_le_bytes())
        .kv_raw(b"llama.context_length", TYPE_I32, &2048i32.to_le_bytes())
        .kv_raw(b"llama.negative", TYPE_I32, &(-3i32).to_le_bytes())
        .kv_raw(b"llama.small", TYPE_U8, &[7])
        .kv_raw(b"llama.rope.freq_base", TYPE_F32, &10000f32.to_le_bytes())
        .kv_raw(b"tokenizer.ggml.add_bos_token", TYPE_BOOL, &[1])
        .kv_array(
            "tokenizer.ggml.tokens",
            TYPE_STRING,
            3,
            &str_array(&["a", "▁b", ""]),
        )
        .kv_array(
            "tokenizer.ggml.scores",
            TYPE_F32,
            2,
            &[1f32.to_le_bytes(), (-2f32).to_le_bytes()].concat(),
        )
        .kv_array("tokenizer.ggml.token_type", TYPE_U8, 3, &[1, 2, 6])
        .tensor("a", &[3, 2], F32_ID, 0)
        .tensor("b", &[32, 2], Q8_0_ID, 32)
        .data(data)
}

/// Asserts that the message names the file first, then every one of `parts`.
fn assert_message(err: &FileError, parts: &[&str]) {
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{NAME}: ")),
        "message does not start with the file: {msg}"
    );
    for part in parts {
        assert!(msg.contains(part), "message lacks {part:?}: {msg}");
    }
}

#[test]
fn valid_file_round_trips() {
    let f = valid().open().unwrap();
    assert_eq!((f.version(), f.alignment(), f.path_name()), (3, 32, NAME));
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.u32("llama.block_count").unwrap(), 6);
    assert_eq!(
        f.u32("llama.context_length").unwrap(),
        2048,
        "i32 read as u32"
    );
    assert_eq!(f.u64("llama.small").unwrap(), 7, "u8 read as u64");
    assert_eq!(f.i64("llama.negative").unwrap(), -3);
    assert_eq!(f.f32("llama.rope.freq_base").unwrap(), 10000.0);
    assert!(f.bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(
        f.str_array("tokenizer.ggml.tokens").unwrap(),
        ["a", "▁b", ""]
    );
    assert_eq!(f.f32_array("tokenizer.ggml.scores").unwrap(), [1.0, -2.0]);
    assert_eq!(
        *f.i32_array("tokenizer.ggml.token_type").unwrap(),
        [1, 2, 6]
    );
    assert_eq!(
        f.get("tokenizer.ggml.token_type"),
        Some(&GgufValue::Array(GgufArray::U8(vec![1, 2, 6])))
    );
    assert_eq!(f.opt_str("general.name").unwrap(), None);
    assert_eq!(f.opt_u32("llama.block_count").unwrap(), Some(6));
    let keys: Vec<&str> = f.metadata().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 10);
    assert_eq!(keys[0], "general.architecture");

    let header_len = valid().bytes().len() - 100;
    assert_eq!(f.data_start(), header_len as u64);
    assert_eq!(f.data_start() % 32, 0);
    let a = f.tensor("a").unwrap();
    assert_eq!(
        (a.ty, a.shape.as_slice(), a.offset, a.n_bytes),
        (GgmlType::F32, &[2, 3][..], f.data_start(), 24)
    );
    let a_vals: Vec<f32> = f
        .tensor_bytes(a)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(a_vals, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    let b = f.tensor("b").unwrap();
    assert_eq!(
        (b.ty, b.shape.as_slice(), b.n_bytes),
        (GgmlType::Q8_0, &[2, 32][..], 68)
    );
    assert_eq!(
        f.tensor_bytes(b),
        (0..68).map(|i| i as u8).collect::<Vec<_>>()
    );
    assert_eq!(f.tensor_data("b").unwrap().len(), 68);
}

#[test]
fn version_2_is_accepted() {
    let mut b = valid();
    b.version = 2;
    assert_eq!(b.open().unwrap().version(), 2);
}

#[test]
fn wrong_accessor_types_name_the_key() {
    let f = valid().open().unwrap();
    let err = f.u32("general.architecture").unwrap_err();
    assert!(
        matches!(
            err,
            FileError::WrongType {
                expected: "u32",
                ..
            }
        ),
        "{err}"
    );
    assert_message(&err, &["general.architecture", "string"]);
    let err = f.u32("llama.negative").unwrap_err();
    assert!(matches!(err, FileError::WrongType { .. }), "{err}");
    assert_message(&err, &["llama.negative", "-3", "out of range"]);
    let err = f.f32_array("tokenizer.ggml.tokens").unwrap_err();
    assert_message(
        &err,
        &["tokenizer.ggml.tokens", "array[f32]", "array[string]"],
    );
    let err = f.str("general.name").unwrap_err();
    assert!(matches!(err, FileError::MissingKey { .. }), "{err}");
    assert_message(&err, &["general.name"]);
    assert!(matches!(
        f.opt_bool("llama.block_count"),
        Err(FileError::WrongType { .. })
    ));
    let err = f.tensor("c").unwrap_err();
    assert!(matches!(err, FileError::MissingTensor { .. }), "{err}");
    assert_message(&err, &["'c'"]);
}

#[test]
fn every_truncation_is_an_error_naming_the_file() {
    let full = valid().bytes();
    for cut in 0..full.len() {
        let err = GgufFile::from_vec(NAME, full[..cut].to_vec()).unwrap_err();
        assert!(
            err.to_string().starts_with("test.gguf: "),
            "cut {cut}: {err}"
        );
    }
}

#[test]
fn truncation_at_chosen_points_names_the_field() {
    let full = valid().bytes();
    for (cut, part) in [
        (2, "header (magic)"),
        (6, "header (version)"),
        (14, "header (tensor count)"),
    ] {
        let err = GgufFile::from_vec(NAME, full[..cut].to_vec()).unwrap_err();
        assert!(
            matches!(err, FileError::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert_message(&err, &[part]);
    }
    // Counts are checked against the bytes left first, so a cut well before the end of the header is
    // a count error; a cut late in a field is a truncated field.
    let err = GgufFile::from_vec(NAME, full[..100].to_vec()).unwrap_err();
    assert!(matches!(err, FileError::CountTooLarge { .. }), "{err}");
    assert_message(&err, &["header (metadata kv count)"]);

    let one_kv = Builder::new()
        .kv_raw(b"llama.block_count", TYPE_U32, &6u32.to_le_bytes())
        .bytes();
    let err = GgufFile::from_vec(NAME, one_kv[..one_kv.len() - 2].to_vec()).unwrap_err();
    assert!(
        matches!(err, FileError::Truncated { needed: 4, .. }),
        "{err}"
    );
    assert_message(&err, &["key 'llama.block_count'"]);

    let long_name = "blk.0.a_tensor_name_long_enough_to_pass_the_count_check";
    let one_tensor = Builder::new()
        .tensor(long_name, &[32, 2], Q8_0_ID, 0)
        .bytes();
    let dims_at = 24 + 8 + long_name.len() + 4;
    let err = GgufFile::from_vec(NAME, one_tensor[..dims_at + 11].to_vec()).unwrap_err();
    assert!(matches!(err, FileError::Truncated { .. }), "{err}");
    assert_message(&err, &[&format!("tensor '{long_name}' (dimension 1)")]);

    // Inside the data section: the last tensor runs past the end.
    let err = GgufFile::from_vec(NAME, full[..full.len() - 10].to_vec()).unwrap_err();
    assert!(matches!(err, FileError::TensorPastEnd { .. }), "{err}");
    assert_message(&err, &["tensor 'b'", "runs past end of file"]);
}

#[test]
fn bad_magic() {
    let mut b = valid();
    b.magic = *b"GGML";
    let err = b.open().unwrap_err();
    assert!(
        matches!(err, FileError::BadMagic { found, .. } if &found == b"GGML"),
        "{err}"
    );
    assert_message(&err, &["not a GGUF file"]);
}

#[test]
fn wrong_versions() {
    for version in [0, 1, 4, 0x0300_0000] {
        let mut b = valid();
        b.version = version;
        let err = b.open().unwrap_err();
        assert!(
            matches!(err, FileError::UnsupportedVersion { version: v, .. } if v == version),
            "{err}"
        );
        assert_message(&err, &[&format!("version {version}")]);
    }
}

#[test]
fn tensor_past_end() {
    let err = valid()
        .tensor("c", &[8], F32_ID, 1 << 20)
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::TensorPastEnd { .. }), "{err}");
    assert_message(&err, &["tensor 'c'", "runs past end of file"]);
    // An offset so large that adding the data start overflows.
    let err = valid()
        .tensor("c", &[8], F32_ID, u64::MAX - 31)
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::TensorPastEnd { .. }), "{err}");
    assert_message(&err, &["tensor 'c'"]);
}

#[test]
fn overlapping_tensors() {
    let err = valid().tensor("c", &[4], F32_ID, 0).open().unwrap_err();
    assert!(matches!(err, FileError::TensorOverlap { .. }), "{err}");
    assert_message(&err, &["'a'", "'c'", "overlaps"]);
    // "b" starts at 32 and is 68 bytes long; a tensor at 64 lies inside it.
    let err = valid().tensor("c", &[4], F32_ID, 64).open().unwrap_err();
    assert_message(&err, &["'b'", "'c'", "overlaps"]);
}

#[test]
fn misaligned_offset() {
    let err = valid().tensor("c", &[4], F32_ID, 40).open().unwrap_err();
    assert!(
        matches!(
            err,
            FileError::MisalignedTensor {
                offset: 40,
                alignment: 32,
                ..
            }
        ),
        "{err}"
    );
    assert_message(&err, &["tensor 'c'", "alignment 32"]);
}

#[test]
fn absurd_dims() {
    for (ne, reason) in [
        (&[u64::MAX, 2][..], "elements"),
        (&[1 << 32, 1 << 32][..], "elements"),
        (&[4, 0][..], "dimension is 0"),
        (&[1, 1, 1, 1, 1][..], "5 dimensions"),
        (&[][..], "0 dimensions"),
    ] {
        let err = valid().tensor("huge", ne, F32_ID, 128).open().unwrap_err();
        assert!(matches!(err, FileError::BadShape { .. }), "{ne:?}: {err}");
        assert_message(&err, &["tensor 'huge'", reason]);
    }
    // n_dims itself absurd: rejected before reading any dimension.
    let mut b = valid();
    let mut info = gguf_str(b"wide");
    info.extend_from_slice(&u32::MAX.to_le_bytes());
    b.infos.push(info);
    assert!(matches!(b.open(), Err(FileError::BadShape { .. })));
}

#[test]
fn unknown_and_removed_type_ids() {
    let err = valid().tensor("c", &[32], 1000, 128).open().unwrap_err();
    assert!(
        matches!(
            err,
            FileError::TensorType {
                source: QuantError::UnknownTypeId(1000),
                ..
            }
        ),
        "{err}"
    );
    assert_message(&err, &["tensor 'c'", "1000"]);
    let err = valid().tensor("c", &[32], 4, 128).open().unwrap_err();
    assert!(
        matches!(
            err,
            FileError::TensorType {
                source: QuantError::UnsupportedType(_),
                ..
            }
        ),
        "{err}"
    );
    assert_message(&err, &["tensor 'c'"]);
}

#[test]
fn non_utf8_strings() {
    let err = valid()
        .kv_raw(b"general.name", TYPE_STRING, &gguf_str(b"\xff\xfe"))
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::InvalidUtf8 { .. }), "{err}");
    assert_message(&err, &["key 'general.name'", "UTF-8"]);
    let err = valid()
        .kv_raw(b"bad\xc3key", TYPE_U8, &[0])
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::InvalidUtf8 { .. }), "{err}");
    assert_message(&err, &["metadata kv #10 (key)"]);
    let err = valid()
        .kv_array(
            "tokenizer.bad",
            TYPE_STRING,
            2,
            &[gguf_str(b"ok"), gguf_str(b"\x80")].concat(),
        )
        .open()
        .unwrap_err();
    assert_message(&err, &["key 'tokenizer.bad' (element 1)", "UTF-8"]);
    let err = valid().tensor("\u{0}\u{7f}", &[32], F32_ID, 128).open();
    assert!(
        err.is_err(),
        "a tensor past the end even with an odd but valid UTF-8 name"
    );
    let mut b = valid();
    let mut info = gguf_str(b"t\xff");
    info.extend_from_slice(&1u32.to_le_bytes());
    b.infos.push(info);
    let err = b.open().unwrap_err();
    assert!(matches!(err, FileError::InvalidUtf8 { .. }), "{err}");
    assert_message(&err, &["tensor info #2 (name)"]);
}

#[test]
fn huge_array_count() {
    for elem_ty in [TYPE_U8, TYPE_F32, TYPE_STRING, TYPE_ARRAY] {
        let err = valid()
            .kv_array("tokenizer.huge", elem_ty, u64::MAX / 2, &[])
            .open()
            .unwrap_err();
        assert!(matches!(err, FileError::CountTooLarge { .. }), "{err}");
        assert_message(&err, &["key 'tokenizer.huge' (array length)"]);
    }
}

#[test]
fn huge_string_length() {
    let mut value = (1u64 << 40).to_le_bytes().to_vec();
    value.extend_from_slice(b"short");
    let err = valid()
        .kv_raw(b"general.name", TYPE_STRING, &value)
        .open()
        .unwrap_err();
    assert!(
        matches!(err, FileError::CountTooLarge { count, .. } if count == 1 << 40),
        "{err}"
    );
    assert_message(&err, &["key 'general.name' (string length)"]);
    // A key length just past the end.
    let mut b = valid();
    b.kvs.push(u64::MAX.to_le_bytes().to_vec());
    let err = b.open().unwrap_err();
    assert!(matches!(err, FileError::CountTooLarge { .. }), "{err}");
    assert_message(&err, &["metadata kv #10 (key)"]);
}

#[test]
fn huge_tensor_and_kv_counts() {
    let mut b = valid();
    b.tensor_count = Some(u64::MAX);
    let err = b.open().unwrap_err();
    assert!(matches!(err, FileError::CountTooLarge { .. }), "{err}");
    assert_message(&err, &["header (tensor count)"]);
    let mut b = valid();
    b.kv_count = Some(1 << 40);
    let err = b.open().unwrap_err();
    assert!(matches!(err, FileError::CountTooLarge { .. }), "{err}");
    assert_message(&err, &["header (metadata kv count)"]);
    // A plausible but wrong count: reads into the tensor infos as if they were kvs.
    let mut b = valid();
    b.kv_count = Some(11);
    assert!(b.open().unwrap_err().to_string().starts_with("test.gguf: "));
}

#[test]
fn duplicate_key_and_tensor() {
    let err = valid()
        .kv_raw(b"llama.block_count", TYPE_U32, &1u32.to_le_bytes())
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::DuplicateKey { .. }), "{err}");
    assert_message(&err, &["key 'llama.block_count'", "more than once"]);
    let err = valid().tensor("a", &[4], F32_ID, 128).open().unwrap_err();
    assert!(matches!(err, FileError::DuplicateTensor { .. }), "{err}");
    assert_message(&err, &["tensor 'a'", "more than once"]);
}

#[test]
fn partial_block() {
    let err = valid()
        .tensor("c", &[16, 2], Q8_0_ID, 128)
        .open()
        .unwrap_err();
    assert!(
        matches!(
            err,
            FileError::PartialBlock {
                inner: 16,
                block: 32,
                ..
            }
        ),
        "{err}"
    );
    assert_message(&err, &["tensor 'c'", "Q8_0", "16"]);
    // A whole number of blocks in total (64 elements) but not per row is still a partial block.
    let err = valid()
        .tensor("c", &[16, 4], Q8_0_ID, 128)
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::PartialBlock { .. }), "{err}");
}

#[test]
fn unknown_value_type_and_deep_nesting() {
    let err = valid()
        .kv_raw(b"general.odd", 13, &[0; 8])
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::BadMetadata { .. }), "{err}");
    assert_message(&err, &["key 'general.odd'", "unknown value type id 13"]);
    let err = valid()
        .kv_array("general.odd", 99, 0, &[])
        .open()
        .unwrap_err();
    assert_message(&err, &["key 'general.odd'", "99"]);

    // array[array[array[array[u8]]]] is one level too deep; three levels are fine.
    let nest = |levels: usize| {
        let mut value = [TYPE_U8.to_le_bytes().as_slice(), &1u64.to_le_bytes(), &[5]].concat();
        for _ in 1..levels {
            value = [
                TYPE_ARRAY.to_le_bytes().as_slice(),
                &1u64.to_le_bytes(),
                &value,
            ]
            .concat();
        }
        valid().kv_raw(b"general.nested", TYPE_ARRAY, &value)
    };
    let f = nest(3).open().unwrap();
    let expected = GgufArray::Array(vec![GgufArray::Array(vec![GgufArray::U8(vec![5])])]);
    assert_eq!(f.array("general.nested").unwrap(), &expected);
    let err = nest(4).open().unwrap_err();
    assert!(matches!(err, FileError::BadMetadata { .. }), "{err}");
    assert_message(&err, &["key 'general.nested'", "nested"]);
}

#[test]
fn bad_bool_byte() {
    let err = valid()
        .kv_raw(b"general.flag", TYPE_BOOL, &[2])
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::BadMetadata { .. }), "{err}");
    assert_message(&err, &["key 'general.flag'", "bool"]);
}

#[test]
fn alignment_key() {
    for bad in [0u32, 3, 48, 1 << 24] {
        let err = valid()
            .kv_raw(b"general.alignment", TYPE_U32, &bad.to_le_bytes())
            .open()
            .unwrap_err();
        assert!(matches!(err, FileError::BadMetadata { .. }), "{bad}: {err}");
        assert_message(&err, &["key 'general.alignment'", &bad.to_string()]);
    }
    let err = valid()
        .kv_raw(b"general.alignment", TYPE_STRING, &gguf_str(b"32"))
        .open()
        .unwrap_err();
    assert!(matches!(err, FileError::WrongType { .. }), "{err}");

    // Alignment 64: the data section moves to the next multiple of 64 and offsets must be multiples of 64.
    let mut b = valid().kv_raw(b"general.alignment", TYPE_U32, &64u32.to_le_bytes());
    b.alignment = 64;
    let err = b.open().unwrap_err();
    assert!(
        matches!(&err, FileError::MisalignedTensor { tensor, offset: 32, alignment: 64, .. } if tensor == "b"),
        "{err}"
    );
    let mut data = valid().data;
    data.splice(32..32, [0u8; 32]);
    b.infos.pop();
    let b = b.tensor("b", &[32, 2], Q8_0_ID, 64).data(data);
    let f = b.open().unwrap();
    assert_eq!((f.alignment(), f.data_start() % 64), (64, 0));
    assert_eq!(f.tensor_bytes(f.tensor("b").unwrap())[67], 67);
}

#[test]
fn metadata_only_file_without_padding() {
    let b = Builder::new().kv_raw(b"general.architecture", TYPE_STRING, &gguf_str(b"llama"));
    let f = b.open().unwrap();
    assert!(f.tensors().is_empty());
    assert_eq!(f.metadata().len(), 1);
    assert!(matches!(
        GgufFile::from_vec(NAME, Vec::new()),
        Err(FileError::Truncated { offset: 0, .. })
    ));
}
