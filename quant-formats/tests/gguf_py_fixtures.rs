//! Our block maths against gguf-py (PyPI `gguf`), bit for bit, on the fixtures that
//! `scripts/make_quant_fixtures.py` wrote into `quant-formats/fixtures/` (see its docstring for the
//! file layout and for the two activation formats gguf-py cannot dequantise).

use quant_formats::{GgmlType, dequantize_row, quantize_row};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Manifest {
    dequantize: Vec<DequantizeCase>,
    quantize: Vec<QuantizeCase>,
}

#[derive(Deserialize)]
struct DequantizeCase {
    #[serde(rename = "type")]
    ty: String,
    elements: usize,
    reference: String,
}

#[derive(Deserialize)]
struct QuantizeCase {
    #[serde(rename = "type")]
    ty: String,
}

fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture_path(rel)).unwrap_or_else(|e| panic!("reading fixture {rel}: {e}"))
}

fn read_f32(rel: &str) -> Vec<f32> {
    let bytes = read(rel);
    assert_eq!(bytes.len() % 4, 0, "{rel}: not a whole number of f32");
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn manifest() -> Manifest {
    serde_json::from_slice(&read("manifest.json")).expect("fixtures/manifest.json parses")
}

/// Index, ours and expected of the first element whose bits differ.
fn first_bit_mismatch(ours: &[f32], expected: &[f32]) -> Option<(usize, f32, f32)> {
    ours.iter()
        .zip(expected)
        .enumerate()
        .find(|(_, (a, b))| a.to_bits() != b.to_bits())
        .map(|(i, (&a, &b))| (i, a, b))
}

/// `dequantize_row` equals the reference for every element, from an aligned and from a
/// misaligned (mmap-like) buffer; `quantize_row` equals gguf-py's bytes where gguf-py quantises.
fn check_against_gguf_py(ty: GgmlType) {
    let manifest = manifest();
    let case = manifest
        .dequantize
        .iter()
        .find(|c| c.ty == ty.name())
        .unwrap_or_else(|| {
            panic!("{ty}: no dequantize fixture; rerun scripts/make_quant_fixtures.py")
        });
    let raw = read(&format!("dequantize/{ty}.bin"));
    let expected = read_f32(&format!("dequantize/{ty}.f32"));
    assert_eq!(expected.len(), case.elements);
    assert!(
        expected.iter().all(|v| !v.is_nan()),
        "{ty}: reference holds NaN"
    );

    let mut ours = vec![f32::NAN; case.elements];
    dequantize_row(ty, &raw, &mut ours).unwrap_or_else(|e| panic!("{ty}: {e}"));
    if let Some((i, a, b)) = first_bit_mismatch(&ours, &expected) {
        panic!(
            "{ty}: element {i} is {a:e} ({:#010x}), {} says {b:e} ({:#010x})",
            a.to_bits(),
            case.reference,
            b.to_bits()
        );
    }

    let mut shifted = vec![0u8; raw.len() + 1];
    shifted[1..].copy_from_slice(&raw);
    let mut ours_unaligned = vec![f32::NAN; case.elements];
    dequantize_row(ty, &shifted[1..], &mut ours_unaligned).unwrap_or_else(|e| panic!("{ty}: {e}"));
    assert_eq!(
        first_bit_mismatch(&ours_unaligned, &expected),
        None,
        "{ty}: misaligned buffer"
    );

    if manifest.quantize.iter().any(|c| c.ty == ty.name()) {
        let input = read_f32("quantize/input.f32");
        let expected = read(&format!("quantize/{ty}.bin"));
        let ours = quantize_row(ty, &input).unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(ours.len(), expected.len(), "{ty}: quantized length");
        let block = ty.block_bytes();
        if let Some(i) = ours.iter().zip(&expected).position(|(a, b)| a != b) {
            let b = i / block * block;
            panic!(
                "{ty}: quantized byte {i} (block {}) differs from gguf-py:\n \
                 ours    {:02x?}\n gguf-py {:02x?}",
                i / block,
                &ours[b..b + block],
                &expected[b..b + block]
            );
        }
    }
}

#[test]
fn fixtures_cover_every_type() {
    let manifest = manifest();
    for ty in GgmlType::ALL {
        assert!(
            manifest.dequantize.iter().any(|c| c.ty == ty.name()),
            "{ty}: no fixture"
        );
    }
    // gguf-py 0.19.0 quantises at least these; a regenerated fixture set must keep them.
    for name in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"] {
        assert!(
            manifest.quantize.iter().any(|c| c.ty == name),
            "{name}: no quantize fixture"
        );
    }
}

macro_rules! gguf_py_test_per_type {
    ($($test:ident => $ty:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_against_gguf_py(GgmlType::$ty);
            }
        )*
        /// Every type has a test above (the match fails to compile when a type is added).
        #[allow(dead_code)]
        fn every_type_has_a_test(ty: GgmlType) {
            match ty {
                $(GgmlType::$ty => {})*
            }
        }
    };
}

gguf_py_test_per_type! {
    f32_matches_gguf_py => F32,
    f16_matches_gguf_py => F16,
    bf16_matches_gguf_py => BF16,
    q4_0_matches_gguf_py => Q4_0,
    q4_1_matches_gguf_py => Q4_1,
    q5_0_matches_gguf_py => Q5_0,
    q5_1_matches_gguf_py => Q5_1,
    q8_0_matches_gguf_py => Q8_0,
    q8_1_matches_reference => Q8_1,
    q2_k_matches_gguf_py => Q2_K,
    q3_k_matches_gguf_py => Q3_K,
    q4_k_matches_gguf_py => Q4_K,
    q5_k_matches_gguf_py => Q5_K,
    q6_k_matches_gguf_py => Q6_K,
    q8_k_matches_reference => Q8_K,
    iq4_nl_matches_gguf_py => IQ4_NL,
    iq4_xs_matches_gguf_py => IQ4_XS,
}

/// gguf-py cannot quantise Q8_1; llama.cpp's `quantize_row_q8_1_ref` (fixtures/llama_cpp/make.sh,
/// compiled from ggml-quants.c) is the reference instead, on the activations our script recreates.
#[test]
fn q8_1_quantize_matches_llama_cpp() {
    let input = read_f32("quantize/llama_cpp_q8_1_input.f32");
    let expected = read("llama_cpp/Q8_1_act.bin");
    let ours = quantize_row(GgmlType::Q8_1, &input).unwrap();
    assert_eq!(ours.len(), expected.len());
    for (i, (a, b)) in ours.chunks(36).zip(expected.chunks(36)).enumerate() {
        assert_eq!(a, b, "Q8_1 block {i} differs from llama.cpp");
    }
}
