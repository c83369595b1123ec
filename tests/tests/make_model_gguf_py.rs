//! A generated GGUF read by an independent reader: gguf-py's `GGUFReader` and its numpy
//! `dequantize` (PyPI `gguf==0.19.0`, which `.ci/run` installs) must see the same keys, tensor
//! types, ggml dims (innermost first) and values as our reader.

use model_llama::files::GgufFile;
use model_llama::testmodel::{Arch, ModelSpec, OutputFormat, Preset, WeightDtype, make_model};
use quant_formats::dequantize_row;
use std::path::Path;
use std::process::Command;

const GGUF_PY_SUMMARY: &str = r#"
import json, sys
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
r = GGUFReader(sys.argv[1])
out = {"keys": sorted(k for k in r.fields if not k.startswith("GGUF.")), "tensors": {}}
for t in r.tensors:
    values = dequantize(t.data, t.tensor_type).reshape(-1).astype(np.float64)
    out["tensors"][t.name] = {
        "type": t.tensor_type.name,
        "ne": [int(d) for d in t.shape],
        "sum": float(values.sum()),
        "first": [float(v) for v in values[:8]],
    }
print(json.dumps(out))
"#;

#[test]
fn gguf_py_reads_the_same_model() {
    let dir = std::env::temp_dir().join(format!("realizar-gguf-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tiny-q4_k_m.gguf");
    let spec = ModelSpec {
        arch: Arch::Llama,
        preset: Preset::Tiny,
        dtype: WeightDtype::Q4KM,
        format: OutputFormat::Gguf,
        out: out.clone(),
        seed: 4,
        vocab_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab"),
    };
    make_model(&spec).unwrap();

    let output = Command::new("python3")
        .args(["-c", GGUF_PY_SUMMARY, out.to_str().unwrap()])
        .output()
        .expect("python3 is needed (with `pip install gguf==0.19.0`, as .ci/run does)");
    assert!(
        output.status.success(),
        "gguf-py failed (pip install gguf==0.19.0): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let file = GgufFile::open(&out).unwrap();
    let mut our_keys: Vec<&str> = file.metadata().map(|(k, _)| k).collect();
    our_keys.sort_unstable();
    assert_eq!(summary["keys"], serde_json::json!(our_keys));
    let tensors = summary["tensors"].as_object().unwrap();
    assert_eq!(tensors.len(), file.tensors().len());
    for t in file.tensors() {
        let theirs = &tensors[&t.name];
        assert_eq!(theirs["type"], t.ty.name(), "{}", t.name);
        let ne: Vec<u64> = t.shape.iter().rev().copied().collect();
        assert_eq!(theirs["ne"], serde_json::json!(ne), "{}", t.name);
        let mut values = vec![0f32; t.elements() as usize];
        dequantize_row(t.ty, file.tensor_bytes(t), &mut values).unwrap();
        // Compared as f32: both sides are f32 values, printed by Python and parsed by serde_json.
        let their_first: Vec<f32> = theirs["first"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(their_first, values[..their_first.len()], "{}", t.name);
        assert_eq!(their_first.len(), 8.min(values.len()), "{}", t.name);
        let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
        let their_sum = theirs["sum"].as_f64().unwrap();
        assert!(
            (sum - their_sum).abs() <= 1e-6 * values.len() as f64,
            "{}: {sum} vs {their_sum}",
            t.name
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
