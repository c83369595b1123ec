//! GGUF files written by gguf-py (fixtures/gguf-py/make.py), an independent writer: values, nested
//! arrays, shapes (numpy order) and data offsets as gguf-py's `GGUFReader` reports them.

use model_llama::files::{GgufArray, GgufFile};
use quant_formats::GgmlType;
use std::path::PathBuf;

fn open(name: &str) -> GgufFile {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/gguf-py")
        .join(name);
    GgufFile::open(path).unwrap()
}

#[test]
fn small_llama_from_gguf_py() {
    let f = open("small-llama.gguf");
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.u32("llama.block_count").unwrap(), 2);
    assert_eq!(f.u64("llama.context_length").unwrap(), 128);
    assert_eq!(f.f32("llama.rope.freq_base").unwrap(), 10000.0);
    assert!(f.bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(
        f.str_array("tokenizer.ggml.tokens").unwrap(),
        ["a", "b", "▁c"]
    );
    assert_eq!(
        f.f32_array("tokenizer.ggml.scores").unwrap(),
        [0.0, -1.0, -2.0]
    );
    assert_eq!(
        *f.i32_array("tokenizer.ggml.token_type").unwrap(),
        [1, 1, 6]
    );

    let t = f.tensor("t.f32").unwrap();
    assert_eq!(
        (t.ty, t.shape.as_slice(), t.offset, t.n_bytes),
        (GgmlType::F32, &[2, 3][..], 608, 24)
    );
    let values: Vec<f32> = f
        .tensor_bytes(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let t = f.tensor("t.f16").unwrap();
    assert_eq!(
        (t.ty, t.shape.as_slice(), t.offset, t.n_bytes),
        (GgmlType::F16, &[2, 32][..], 640, 128)
    );
    let last = half::f16::from_le_bytes(f.tensor_bytes(t)[126..].try_into().unwrap());
    assert_eq!(last.to_f32(), 63.0);
    let t = f.tensor("t.q8").unwrap();
    assert_eq!(
        (t.ty, t.shape.as_slice(), t.offset, t.n_bytes),
        (GgmlType::Q8_0, &[2, 32][..], 768, 68)
    );
}

#[test]
fn nested_array_from_gguf_py() {
    let f = open("small-qwen2-nested.gguf");
    assert_eq!(f.architecture().unwrap(), "qwen2");
    let expected = GgufArray::Array(vec![GgufArray::I32(vec![1, 2]), GgufArray::I32(vec![3])]);
    assert_eq!(f.array("nested.thing").unwrap(), &expected);
    assert_eq!(f.tensors().len(), 2);
}
