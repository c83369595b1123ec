//! The real fixture files open and read back what gguf-py (PyPI `gguf` 0.19, `GGUFReader`) and the
//! checkpoint's config.json say they hold.

use model_llama::files::{GgufArray, GgufFile, GgufValue};
use quant_formats::GgmlType;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

#[test]
fn tiny_code_gguf_metadata_and_tensor_table() {
    let f = GgufFile::open(fixture("models/tiny-code/tiny-code-Q8_0.gguf")).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.architecture().unwrap(), "llama");
    assert_eq!(f.str("general.name").unwrap(), "tiny-code-byte");
    assert_eq!(f.u32("llama.block_count").unwrap(), 6);
    assert_eq!(f.u32("llama.embedding_length").unwrap(), 256);
    assert_eq!(f.u32("llama.feed_forward_length").unwrap(), 768);
    assert_eq!(f.u32("llama.attention.head_count").unwrap(), 4);
    assert_eq!(f.u32("llama.attention.head_count_kv").unwrap(), 2);
    assert_eq!(f.u32("llama.vocab_size").unwrap(), 258);
    assert_eq!(f.f32("llama.rope.freq_base").unwrap(), 10000.0);
    assert_eq!(
        f.f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
        1e-5
    );
    assert!(!f.bool("tokenizer.ggml.add_space_prefix").unwrap());
    assert!(f.bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(f.u32("tokenizer.ggml.bos_token_id").unwrap(), 256);
    assert_eq!(f.u32("tokenizer.ggml.eos_token_id").unwrap(), 257);
    assert_eq!(f.str_array("tokenizer.ggml.tokens").unwrap().len(), 258);
    assert_eq!(f.f32_array("tokenizer.ggml.scores").unwrap().len(), 258);
    assert_eq!(f.i32_array("tokenizer.ggml.token_type").unwrap().len(), 258);
    assert_eq!(f.metadata().count(), 25);
    assert_eq!(f.opt_u32("llama.no_such_key").unwrap(), None);

    // 2 + 9 per layer.
    assert_eq!(f.tensors().len(), 2 + 1 + 9 * 6);
    let out = f.tensor("output.weight").unwrap();
    assert_eq!(
        (out.ty, out.shape.as_slice(), out.offset, out.n_bytes),
        (GgmlType::Q8_0, &[258, 256][..], 10112, 70176)
    );
    let norm = f.tensor("output_norm.weight").unwrap();
    assert_eq!(
        (norm.ty, norm.shape.as_slice(), norm.offset),
        (GgmlType::F32, &[256][..], 80288)
    );
    let down = f.tensor("blk.0.ffn_down.weight").unwrap();
    assert_eq!(
        (down.shape.as_slice(), down.offset, down.n_bytes),
        (&[256, 768][..], 361408, 208896)
    );
    assert_eq!(f.tensor("blk.0.attn_k.weight").unwrap().shape, [128, 256]);
    let last = f.tensor("blk.5.ffn_up.weight").unwrap();
    assert_eq!(
        (last.shape.as_slice(), last.offset),
        (&[768, 256][..], 4968384)
    );
    assert_eq!(last.offset + last.n_bytes, f.file_size());

    // output_norm is F32; its bytes decode to finite, positive RMSNorm gains.
    let gains: Vec<f32> = f
        .tensor_bytes(norm)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(gains.len(), 256);
    assert!(gains.iter().all(|g| g.is_finite() && *g > 0.0));
}

#[test]
fn vocab_only_ggufs_open_with_no_tensors() {
    for (name, model, n_tokens, n_kv) in [
        ("ggml-vocab-llama-spm.gguf", "llama", 32000, 22),
        ("ggml-vocab-llama-bpe.gguf", "gpt2", 128256, 20),
        ("ggml-vocab-qwen2.gguf", "gpt2", 151936, 20),
    ] {
        let f = GgufFile::open(fixture(&format!("vocab/{name}"))).unwrap();
        assert!(f.tensors().is_empty(), "{name}");
        assert_eq!(f.metadata().len(), n_kv, "{name}");
        assert_eq!(f.str("tokenizer.ggml.model").unwrap(), model, "{name}");
        assert_eq!(
            f.str_array("tokenizer.ggml.tokens").unwrap().len(),
            n_tokens,
            "{name}"
        );
        assert_eq!(
            f.i32_array("tokenizer.ggml.token_type").unwrap().len(),
            n_tokens,
            "{name}"
        );
        assert!(matches!(
            f.get("tokenizer.ggml.tokens"),
            Some(GgufValue::Array(GgufArray::String(_)))
        ));
    }
    let bpe = GgufFile::open(fixture("vocab/ggml-vocab-llama-bpe.gguf")).unwrap();
    assert_eq!(bpe.str_array("tokenizer.ggml.merges").unwrap()[0], "Ġ Ġ");
    assert_eq!(bpe.u32("tokenizer.ggml.bos_token_id").unwrap(), 128000);
}

#[test]
fn tiny_code_safetensors_checkpoint_opens_with_config() {
    use model_llama::files::{ModelFile, SafetensorsCheckpoint, TensorSource};
    let dir = fixture("models/tiny-code");
    let c = SafetensorsCheckpoint::open(&dir).unwrap();
    let config = c.config().expect("config.json");
    assert_eq!(config["num_hidden_layers"], 6);
    assert_eq!(config["hidden_size"], 256);
    assert_eq!(config["vocab_size"], 258);
    assert_eq!(config["intermediate_size"], 768);
    assert!(c.generation_config().is_some());
    // 2 per layer norms + 7 per layer matrices, embed, lm_head, final norm.
    assert_eq!(c.tensors().len(), 6 * 9 + 3);
    assert!(
        c.tensors()
            .iter()
            .all(|t| t.ty == GgmlType::F16 && t.file_index == 0)
    );
    // Header values as Python's json module reads them from the file.
    let lm_head = c.tensor("lm_head.weight").unwrap();
    assert_eq!(
        (lm_head.shape.as_slice(), lm_head.offset, lm_head.n_bytes),
        (&[258, 256][..], 8 + 6040, 132096)
    );
    let down = c.tensor("model.layers.0.mlp.down_proj.weight").unwrap();
    assert_eq!(
        (down.shape.as_slice(), down.offset),
        (&[256, 768][..], 8 + 6040 + 264704)
    );
    let norm = c.tensor("model.layers.0.input_layernorm.weight").unwrap();
    assert_eq!(c.tensor_bytes(norm).len(), 512);

    // The same checkpoint through the format-independent view, from the file and from the directory.
    for path in [dir.clone(), dir.join("model.safetensors")] {
        let m = ModelFile::open(&path).unwrap();
        assert!(matches!(m, ModelFile::Safetensors(_)));
        assert_eq!(m.tensors().len(), 57);
        assert_eq!(
            m.tensor_bytes(m.tensor("lm_head.weight").unwrap()),
            c.tensor_bytes(lm_head)
        );
    }
    let g = ModelFile::open(dir.join("tiny-code-Q8_0.gguf")).unwrap();
    assert!(matches!(g, ModelFile::Gguf(_)));
    assert_eq!(
        g.tensor("token_embd.weight").unwrap().shape,
        c.tensor("model.embed_tokens.weight").unwrap().shape
    );
}

#[test]
fn files_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GgufFile>();
    assert_send_sync::<model_llama::files::SafetensorsCheckpoint>();
    assert_send_sync::<model_llama::files::ModelFile>();
    let f = GgufFile::open(fixture("models/tiny-code/tiny-code-Q8_0.gguf")).unwrap();
    let sizes: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = f
            .tensors()
            .chunks(20)
            .map(|chunk| s.spawn(|| chunk.iter().map(|t| f.tensor_bytes(t).len()).sum()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        sizes.iter().sum::<usize>() as u64,
        f.tensors().iter().map(|t| t.n_bytes).sum::<u64>()
    );
}
