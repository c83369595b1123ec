//! Safetensors checkpoints, single and sharded, built by hand here (format: u64 header length, JSON
//! header, data; https://github.com/huggingface/safetensors#format), and the ways they can be broken.

use model_llama::files::{FileError, ModelFile, SafetensorsCheckpoint, TensorSource};
use quant_formats::GgmlType;
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test.
fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("files_safetensors")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A safetensors file holding `tensors` (name, dtype, shape, data) back to back.
fn safetensors_bytes(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let entry = serde_json::json!({
            "dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()]
        });
        header.insert(name.to_string(), entry);
        data.extend_from_slice(bytes);
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    out
}

fn f16_bytes(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| half::f16::from_f32(i as f32).to_le_bytes())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn index(weight_map: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "metadata": {}, "weight_map": weight_map })).unwrap()
}

#[test]
fn sharded_checkpoint_spans_shards() {
    let dir = test_dir("sharded");
    let shard1 = safetensors_bytes(&[
        ("a", "F16", &[2, 3], f16_bytes(6)),
        ("b", "BF16", &[4], vec![1; 8]),
    ]);
    let shard2 = safetensors_bytes(&[(
        "c",
        "F32",
        &[1, 2],
        [1f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect(),
    )]);
    write(&dir, "model-00001-of-00002.safetensors", &shard1);
    write(&dir, "model-00002-of-00002.safetensors", &shard2);
    let weight_map = serde_json::json!({
        "a": "model-00001-of-00002.safetensors",
        "b": "model-00001-of-00002.safetensors",
        "c": "model-00002-of-00002.safetensors",
    });
    write(&dir, "model.safetensors.index.json", &index(weight_map));
    write(&dir, "config.json", br#"{"hidden_size": 3}"#);

    let c = SafetensorsCheckpoint::open(&dir).unwrap();
    assert_eq!(c.config().unwrap()["hidden_size"], 3);
    assert!(c.generation_config().is_none());
    assert_eq!(c.shard_paths().count(), 2);
    let a = c.tensor("a").unwrap();
    assert_eq!(
        (a.ty, a.shape.as_slice(), a.n_bytes, a.file_index),
        (GgmlType::F16, &[2, 3][..], 12, 0)
    );
    assert_eq!(c.tensor_bytes(a), f16_bytes(6));
    assert_eq!(c.tensor("b").unwrap().ty, GgmlType::BF16);
    let t = c.tensor("c").unwrap();
    assert_eq!((t.ty, t.file_index), (GgmlType::F32, 1));
    assert_eq!(
        c.tensor_bytes(t),
        [1f32, 2.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<_>>()
    );
    // Opening through the index file itself, and as a ModelFile, gives the same tensors.
    let via_index = SafetensorsCheckpoint::open(dir.join("model.safetensors.index.json")).unwrap();
    assert_eq!(via_index.tensors(), c.tensors());
    let m = ModelFile::open(&dir).unwrap();
    assert_eq!(m.tensor_bytes(m.tensor("c").unwrap()), c.tensor_bytes(t));
}

#[test]
fn unsupported_dtype_names_the_tensor() {
    let dir = test_dir("dtype");
    write(
        &dir,
        "model.safetensors",
        &safetensors_bytes(&[
            ("ok", "F16", &[2], f16_bytes(2)),
            ("ids", "I64", &[2], vec![0; 16]),
        ]),
    );
    let err = SafetensorsCheckpoint::open(&dir).unwrap_err();
    assert!(
        matches!(&err, FileError::UnsupportedDtype { tensor, dtype, .. } if tensor == "ids" && dtype == "I64"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&dir.join("model.safetensors").display().to_string())
            && msg.contains("'ids'"),
        "{msg}"
    );
}

#[test]
fn truncated_and_malformed_headers() {
    let dir = test_dir("truncated");
    let full = safetensors_bytes(&[("w", "F16", &[4, 4], f16_bytes(16))]);
    for cut in [0, 4, 8, 20, full.len() - 1] {
        let path = write(&dir, "model.safetensors", &full[..cut]);
        let err = SafetensorsCheckpoint::open(&path).unwrap_err();
        assert!(
            matches!(err, FileError::BadSafetensors { .. }),
            "cut {cut}: {err}"
        );
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }
    // A header length far past the end, and a shape that disagrees with the byte range.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let path = write(&dir, "model.safetensors", &huge);
    assert!(matches!(
        SafetensorsCheckpoint::open(&path),
        Err(FileError::BadSafetensors { .. })
    ));
    let lying = safetensors_bytes(&[("w", "F16", &[4, 5], f16_bytes(16))]);
    let path = write(&dir, "model.safetensors", &lying);
    assert!(matches!(
        SafetensorsCheckpoint::open(&path),
        Err(FileError::BadSafetensors { .. })
    ));
}

#[test]
fn bad_indexes() {
    let dir = test_dir("index");
    write(
        &dir,
        "model-1.safetensors",
        &safetensors_bytes(&[("a", "F16", &[2], f16_bytes(2))]),
    );
    let open_with = |weight_map: serde_json::Value| {
        write(&dir, "model.safetensors.index.json", &index(weight_map));
        SafetensorsCheckpoint::open(&dir).unwrap_err()
    };
    let err = open_with(serde_json::json!({ "a": "../model-1.safetensors" }));
    assert!(matches!(err, FileError::BadSafetensors { .. }), "{err}");
    assert!(err.to_string().contains("'a'"), "{err}");
    let err = open_with(serde_json::json!({ "a": "/etc/passwd" }));
    assert!(matches!(err, FileError::BadSafetensors { .. }), "{err}");
    let err =
        open_with(serde_json::json!({ "a": "model-1.safetensors", "z": "model-1.safetensors" }));
    assert!(
        matches!(&err, FileError::MissingTensor { tensor, .. } if tensor == "z"),
        "{err}"
    );
    let err = open_with(serde_json::json!({ "a": "model-2.safetensors" }));
    assert!(matches!(err, FileError::Io { .. }), "{err}");
    assert!(err.to_string().contains("model-2.safetensors"), "{err}");
    let err = open_with(serde_json::json!({}));
    assert!(matches!(err, FileError::BadSafetensors { .. }), "{err}");

    // The same tensor in two shards.
    write(
        &dir,
        "model-2.safetensors",
        &safetensors_bytes(&[("a", "F16", &[2], f16_bytes(2))]),
    );
    let err =
        open_with(serde_json::json!({ "a": "model-1.safetensors", "b": "model-2.safetensors" }));
    assert!(
        matches!(&err, FileError::DuplicateTensor { tensor, .. } if tensor == "a"),
        "{err}"
    );

    std::fs::write(dir.join("model.safetensors.index.json"), b"{ not json").unwrap();
    assert!(matches!(
        SafetensorsCheckpoint::open(&dir),
        Err(FileError::Json { .. })
    ));
}

#[test]
fn missing_checkpoint_and_bad_config() {
    let dir = test_dir("missing");
    let err = SafetensorsCheckpoint::open(&dir).unwrap_err();
    assert!(matches!(err, FileError::Io { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    write(
        &dir,
        "model.safetensors",
        &safetensors_bytes(&[("a", "F32", &[1], vec![0; 4])]),
    );
    write(&dir, "config.json", b"{\"hidden_size\": ");
    let err = SafetensorsCheckpoint::open(&dir).unwrap_err();
    assert!(matches!(err, FileError::Json { .. }), "{err}");
    assert!(err.to_string().contains("config.json"), "{err}");
}
