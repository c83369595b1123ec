//! Comparisons with llama.cpp itself (fixtures/llama_cpp, made by its make.sh):
//! - `quantize_block` byte for byte against ggml-quants.c on 16 super-blocks of varied data
//!   (cosine, normal, weight-sized, outliers, one-signed, zero groups, all zero, tiny, large,
//!   integer ties);
//! - `vec_dot` bit for bit against ggml-cuda's `vec_dot_*_q8_1` (vecdotq.cuh) run on the CPU over
//!   those blocks and llama.cpp-quantised Q8_1 activations, partials summed in (block, iqs) order.

use crate::{
    BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8_1, BlockQ8K,
    QuantBlock, quantize_row,
};

const INPUT: &[u8] = include_bytes!("../../fixtures/llama_cpp/input.f32");
const ACTIVATIONS: &[u8] = include_bytes!("../../fixtures/llama_cpp/Q8_1_act.bin");
const VEC_DOT: &str = include_str!("../../fixtures/llama_cpp/vec_dot.txt");

fn blocks<B: QuantBlock>(bytes: &[u8]) -> Vec<B> {
    bytes
        .chunks_exact(B::BLOCK_BYTES)
        .map(bytemuck::pod_read_unaligned)
        .collect()
}

fn check_quantize<B: QuantBlock>(expected: &[u8]) {
    let x: Vec<f32> = INPUT
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let got = quantize_row(B::TYPE, &x).expect("fixture input is whole blocks");
    assert_eq!(got.len(), expected.len(), "{}: byte count", B::TYPE);
    for (i, (g, e)) in got
        .chunks(B::BLOCK_BYTES)
        .zip(expected.chunks(B::BLOCK_BYTES))
        .enumerate()
    {
        assert_eq!(g, e, "{}: block {i} differs from llama.cpp", B::TYPE);
    }
}

fn check_vec_dot<B: QuantBlock<Activation = BlockQ8_1>>(weights: &[u8]) {
    let line = VEC_DOT
        .lines()
        .find(|l| l.split_whitespace().next() == Some(B::TYPE.name()))
        .expect("type listed in vec_dot.txt");
    let hex = line.split_whitespace().nth(1).expect("bits column");
    let want = f32::from_bits(u32::from_str_radix(hex, 16).expect("hex bits"));
    let got = B::vec_dot(&blocks::<B>(weights), &blocks::<BlockQ8_1>(ACTIVATIONS));
    assert_eq!(
        got.to_bits(),
        want.to_bits(),
        "{}: {got} vs CUDA {want}",
        B::TYPE
    );
}

macro_rules! fixture {
    ($ty:literal) => {
        include_bytes!(concat!("../../fixtures/llama_cpp/", $ty, ".bin"))
    };
}

#[test]
fn quantize_matches_llama_cpp() {
    check_quantize::<BlockQ2K>(fixture!("Q2_K"));
    check_quantize::<BlockQ3K>(fixture!("Q3_K"));
    check_quantize::<BlockQ4K>(fixture!("Q4_K"));
    check_quantize::<BlockQ5K>(fixture!("Q5_K"));
    check_quantize::<BlockQ6K>(fixture!("Q6_K"));
    check_quantize::<BlockQ8K>(fixture!("Q8_K"));
    check_quantize::<BlockIQ4NL>(fixture!("IQ4_NL"));
    check_quantize::<BlockIQ4XS>(fixture!("IQ4_XS"));
}

#[test]
fn vec_dot_matches_cuda_vecdotq() {
    check_vec_dot::<BlockQ2K>(fixture!("Q2_K"));
    check_vec_dot::<BlockQ3K>(fixture!("Q3_K"));
    check_vec_dot::<BlockQ4K>(fixture!("Q4_K"));
    check_vec_dot::<BlockQ5K>(fixture!("Q5_K"));
    check_vec_dot::<BlockQ6K>(fixture!("Q6_K"));
    check_vec_dot::<BlockIQ4NL>(fixture!("IQ4_NL"));
    check_vec_dot::<BlockIQ4XS>(fixture!("IQ4_XS"));
}
