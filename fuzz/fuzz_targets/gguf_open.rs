//! Any byte string either opens as a GGUF file whose tensor table and metadata are consistent, or is
//! a `FileError` whose message names the file. Never a panic, an out-of-bounds read or a huge allocation.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run gguf_open -- -max_len=4096 -rss_limit_mb=512`
//! (seeds: `cargo fuzz run` reads `corpus/gguf_open/`; copy a small GGUF there to start from a valid file).

#![no_main]

use libfuzzer_sys::fuzz_target;
use model_llama::files::{GgufFile, GgufValue};

fuzz_target!(|data: &[u8]| {
    match GgufFile::from_vec("fuzz.gguf", data.to_vec()) {
        Ok(file) => {
            for t in file.tensors() {
                let bytes = file.tensor_bytes(t);
                assert_eq!(bytes.len() as u64, t.n_bytes);
                assert_eq!(t.offset % file.alignment(), 0);
            }
            for (key, value) in file.metadata() {
                let _ = value.to_string();
                assert!(file.get(key).is_some());
                if let GgufValue::Array(_) = value {
                    let _ = file.str_array(key);
                    let _ = file.i32_array(key);
                }
                let _ = file.u32(key);
            }
        }
        Err(err) => assert!(err.to_string().starts_with("fuzz.gguf: "), "{err}"),
    }
});
