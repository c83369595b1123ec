//! The test-model generator, read back through the file readers: names, shapes and types as
//! llama.cpp and transformers lay them out, metadata, determinism, and GGUF = permuted safetensors.

use model_llama::files::{GgufFile, SafetensorsCheckpoint, TensorInfo};
use model_llama::testmodel::{
    Arch, MadeModel, ModelSpec, OutputFormat, Preset, WeightDtype, make_model,
};
use quant_formats::{GgmlType, dequantize_row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A scratch directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("realizar-make-model-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vocab_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab")
}

fn make(
    dir: &Path,
    arch: Arch,
    dtype: WeightDtype,
    format: OutputFormat,
    seed: u64,
) -> (PathBuf, MadeModel) {
    let ext = match format {
        OutputFormat::Gguf => ".gguf",
        OutputFormat::Safetensors => "",
    };
    let out = dir.join(format!("{arch}-{dtype}-{seed}{ext}"));
    let spec = ModelSpec {
        arch,
        preset: Preset::Tiny,
        dtype,
        format,
        out: out.clone(),
        seed,
        vocab_dir: vocab_dir(),
    };
    let made = make_model(&spec).unwrap_or_else(|e| panic!("{arch} {dtype} {format}: {e}"));
    (out, made)
}

/// Expected tiny-preset tensors (llama.cpp names, row-major shapes), written out from llama.cpp's
/// `LLM_TENSOR_NAMES` and the preset: hidden 256, 2 layers, 4 heads / 2 KV heads of 64, FFN 512,
/// vocab 32000.
fn expected_gguf_tensors(arch: Arch) -> BTreeMap<String, Vec<u64>> {
    let mut t = BTreeMap::new();
    t.insert("token_embd.weight".to_owned(), vec![32000, 256]);
    t.insert("output_norm.weight".to_owned(), vec![256]);
    if arch == Arch::Llama {
        t.insert("output.weight".to_owned(), vec![32000, 256]);
    }
    for l in 0..2 {
        for (name, shape) in [
            ("attn_norm.weight", vec![256]),
            ("attn_q.weight", vec![256, 256]),
            ("attn_k.weight", vec![128, 256]),
            ("attn_v.weight", vec![128, 256]),
            ("attn_output.weight", vec![256, 256]),
            ("ffn_norm.weight", vec![256]),
            ("ffn_gate.weight", vec![512, 256]),
            ("ffn_up.weight", vec![512, 256]),
            ("ffn_down.weight", vec![256, 512]),
        ] {
            t.insert(format!("blk.{l}.{name}"), shape);
        }
        if arch == Arch::Qwen2 {
            t.insert(format!("blk.{l}.attn_q.bias"), vec![256]);
            t.insert(format!("blk.{l}.attn_k.bias"), vec![128]);
            t.insert(format!("blk.{l}.attn_v.bias"), vec![128]);
        }
    }
    t
}

/// The Hugging Face name of a llama.cpp name (transformers' `LlamaForCausalLM` state dict).
fn hf_name(gguf: &str) -> String {
    let fixed = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ];
    if let Some((_, hf)) = fixed.iter().find(|(g, _)| *g == gguf) {
        return (*hf).to_owned();
    }
    let rest = gguf.strip_prefix("blk.").unwrap();
    let (layer, leaf) = rest.split_once('.').unwrap();
    let (module, kind) = leaf.split_once('.').unwrap();
    let hf_module = match module {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        other => panic!("unexpected module {other}"),
    };
    format!("model.layers.{layer}.{hf_module}.{kind}")
}

fn dequantize(info: &TensorInfo, bytes: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; info.elements() as usize];
    dequantize_row(info.ty, bytes, &mut out).unwrap_or_else(|e| panic!("{}: {e}", info.name));
    out
}

fn std_dev(v: &[f32]) -> f32 {
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
}

/// llama.cpp's Q4_K_M choice for the tiny preset (2 layers: `use_more_bits` is true for layer 1
/// only), from `llama_tensor_get_type_impl`.
fn q4_k_m_type(arch: Arch, name: &str) -> GgmlType {
    let tied = arch == Arch::Qwen2;
    match name {
        "output.weight" => GgmlType::Q6_K,
        "token_embd.weight" if tied => GgmlType::Q6_K,
        "blk.1.attn_v.weight" | "blk.1.ffn_down.weight" => GgmlType::Q6_K,
        n if n.ends_with(".bias") || n.ends_with("norm.weight") => GgmlType::F32,
        _ => GgmlType::Q4_K,
    }
}

#[test]
fn every_dtype_and_arch_gives_the_llama_cpp_gguf_layout() {
    let dir = ScratchDir::new("gguf");
    for (i, &dtype) in WeightDtype::ALL.iter().enumerate() {
        // Each dtype once, alternating the architecture; q4_k_m (the mix) for both. f32 of both
        // archs is also read in `gguf_and_safetensors_of_one_seed_hold_the_same_weights`.
        let archs: &[Arch] = match dtype {
            WeightDtype::Q4KM => &[Arch::Llama, Arch::Qwen2],
            _ if i % 2 == 0 => &[Arch::Llama],
            _ => &[Arch::Qwen2],
        };
        for &arch in archs {
            let (path, made) = make(&dir.0, arch, dtype, OutputFormat::Gguf, 1);
            let file = GgufFile::open(&path).unwrap();
            let what = format!("{arch} {dtype}");
            let a = arch.name();
            assert_eq!(file.architecture().unwrap(), a, "{what}");
            assert_eq!(file.u32(&format!("{a}.block_count")).unwrap(), 2, "{what}");
            assert_eq!(
                file.u32(&format!("{a}.embedding_length")).unwrap(),
                256,
                "{what}"
            );
            assert_eq!(
                file.u32(&format!("{a}.feed_forward_length")).unwrap(),
                512,
                "{what}"
            );
            assert_eq!(
                file.u32(&format!("{a}.attention.head_count")).unwrap(),
                4,
                "{what}"
            );
            assert_eq!(
                file.u32(&format!("{a}.attention.head_count_kv")).unwrap(),
                2,
                "{what}"
            );
            assert_eq!(
                file.u32(&format!("{a}.rope.dimension_count")).unwrap(),
                64,
                "{what}"
            );
            assert!(
                file.f32(&format!("{a}.attention.layer_norm_rms_epsilon"))
                    .unwrap()
                    > 0.0
            );
            assert_eq!(
                file.u32("general.file_type").unwrap(),
                dtype.llama_ftype(),
                "{what}"
            );
            assert_eq!(file.str("tokenizer.ggml.model").unwrap(), "llama", "{what}");
            assert_eq!(
                file.str_array("tokenizer.ggml.tokens").unwrap().len(),
                32000,
                "{what}"
            );
            assert_eq!(
                file.u32("tokenizer.ggml.bos_token_id").unwrap(),
                1,
                "{what}"
            );

            let expected = expected_gguf_tensors(arch);
            let got: BTreeMap<String, Vec<u64>> = file
                .tensors()
                .iter()
                .map(|t| (t.name.clone(), t.shape.clone()))
                .collect();
            assert_eq!(got, expected, "{what}");
            assert_eq!(made.tensor_count, expected.len());
            assert_eq!(
                made.tensor_bytes,
                file.tensors().iter().map(|t| t.n_bytes).sum::<u64>()
            );

            for t in file.tensors() {
                let want = match dtype {
                    WeightDtype::Q4KM => q4_k_m_type(arch, &t.name),
                    _ if t.shape.len() == 1 => GgmlType::F32,
                    _ => dtype.base_type(),
                };
                assert_eq!(t.ty, want, "{what} {}", t.name);
                let values = dequantize(t, file.tensor_bytes(t));
                assert!(values.iter().all(|v| v.is_finite()), "{what} {}", t.name);
                let sd = std_dev(&values);
                if t.name.ends_with("norm.weight") {
                    let mean = values.iter().sum::<f32>() / values.len() as f32;
                    assert!((mean - 1.0).abs() < 0.01, "{what} {}: mean {mean}", t.name);
                } else if t.shape.len() == 2 {
                    // N(0, 0.02) through the quantiser: coarse types add noise, never a scale error.
                    assert!((0.015..0.03).contains(&sd), "{what} {}: std {sd}", t.name);
                }
            }
        }
    }
}

#[test]
fn safetensors_checkpoints_have_hf_names_dtypes_and_config() {
    let dir = ScratchDir::new("safetensors");
    for (arch, dtype) in [
        (Arch::Llama, WeightDtype::F32),
        (Arch::Qwen2, WeightDtype::F16),
        (Arch::Llama, WeightDtype::Bf16),
        (Arch::Qwen2, WeightDtype::Bf16),
    ] {
        let (path, made) = make(&dir.0, arch, dtype, OutputFormat::Safetensors, 3);
        let checkpoint = SafetensorsCheckpoint::open(&path).unwrap();
        let what = format!("{arch} {dtype}");
        let expected: BTreeMap<String, Vec<u64>> = expected_gguf_tensors(arch)
            .into_iter()
            .map(|(n, s)| (hf_name(&n), s))
            .collect();
        let got: BTreeMap<String, Vec<u64>> = checkpoint
            .tensors()
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone()))
            .collect();
        assert_eq!(got, expected, "{what}");
        assert_eq!(made.tensor_count, expected.len());
        assert!(
            checkpoint
                .tensors()
                .iter()
                .all(|t| t.ty == dtype.base_type()),
            "{what}"
        );

        let config = checkpoint.config().expect("config.json");
        let arch_class = match arch {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
        };
        assert_eq!(config["architectures"][0], arch_class, "{what}");
        assert_eq!(config["hidden_size"], 256);
        assert_eq!(config["num_hidden_layers"], 2);
        assert_eq!(config["num_attention_heads"], 4);
        assert_eq!(config["num_key_value_heads"], 2);
        assert_eq!(config["intermediate_size"], 512);
        assert_eq!(config["vocab_size"], 32000);
        assert_eq!(config["tie_word_embeddings"], arch == Arch::Qwen2);
        assert_eq!(config["bos_token_id"], 1);
        assert_eq!(config["eos_token_id"], 2);
        let generation = checkpoint
            .generation_config()
            .expect("generation_config.json");
        assert_eq!(generation["eos_token_id"], 2);
    }
    let bad = ModelSpec {
        arch: Arch::Llama,
        preset: Preset::Tiny,
        dtype: WeightDtype::Q8_0,
        format: OutputFormat::Safetensors,
        out: dir.0.join("q8"),
        seed: 0,
        vocab_dir: vocab_dir(),
    };
    let error = make_model(&bad).unwrap_err().to_string();
    assert!(
        error.contains("q8_0") && error.contains("safetensors"),
        "{error}"
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let dir = ScratchDir::new("seed");
    let a = std::fs::read(
        make(
            &dir.0,
            Arch::Qwen2,
            WeightDtype::Q4KM,
            OutputFormat::Gguf,
            5,
        )
        .0,
    )
    .unwrap();
    let sub = ScratchDir::new("seed-again");
    let b = std::fs::read(
        make(
            &sub.0,
            Arch::Qwen2,
            WeightDtype::Q4KM,
            OutputFormat::Gguf,
            5,
        )
        .0,
    )
    .unwrap();
    assert!(a == b, "two runs with seed 5 differ");
    let c = std::fs::read(
        make(
            &dir.0,
            Arch::Qwen2,
            WeightDtype::Q4KM,
            OutputFormat::Gguf,
            6,
        )
        .0,
    )
    .unwrap();
    assert_eq!(a.len(), c.len());
    assert!(a != c, "seeds 5 and 6 gave the same file");
}

/// GGUF row `r` of a llama Q or K weight, computed the way numpy evaluates convert_hf_to_gguf.py's
/// `w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)`:
/// output index (h, i, j) reads input index (h, j, i).
fn llama_cpp_permute(hf: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let half = rows / n_head / 2;
    let mut out = Vec::with_capacity(hf.len());
    for h in 0..n_head {
        for i in 0..half {
            for j in 0..2 {
                let src_row = (h * 2 + j) * half + i;
                out.extend_from_slice(&hf[src_row * cols..(src_row + 1) * cols]);
            }
        }
    }
    out
}

#[test]
fn gguf_and_safetensors_of_one_seed_hold_the_same_weights() {
    let dir = ScratchDir::new("same");
    for arch in [Arch::Llama, Arch::Qwen2] {
        let (gguf_path, _) = make(&dir.0, arch, WeightDtype::F32, OutputFormat::Gguf, 11);
        let (hf_path, _) = make(
            &dir.0,
            arch,
            WeightDtype::F32,
            OutputFormat::Safetensors,
            11,
        );
        let gguf = GgufFile::open(&gguf_path).unwrap();
        let hf = SafetensorsCheckpoint::open(&hf_path).unwrap();
        for t in gguf.tensors() {
            let h = hf.tensor(&hf_name(&t.name)).unwrap();
            let gguf_values = dequantize(t, gguf.tensor_bytes(t));
            let hf_values = dequantize(h, hf.tensor_bytes(h));
            let heads = match (arch, t.name.rsplit('.').nth(1)) {
                (Arch::Llama, Some("attn_q")) => Some(4),
                (Arch::Llama, Some("attn_k")) => Some(2),
                _ => None,
            };
            let expected = match heads {
                Some(n_head) => {
                    let (rows, cols) = (t.shape[0] as usize, t.shape[1] as usize);
                    let permuted = llama_cpp_permute(&hf_values, rows, cols, n_head);
                    assert_ne!(
                        permuted, hf_values,
                        "{}: permutation is not the identity",
                        t.name
                    );
                    permuted
                }
                None => hf_values,
            };
            assert!(
                gguf_values == expected,
                "{arch} {}: GGUF and safetensors differ",
                t.name
            );
        }
    }
}
