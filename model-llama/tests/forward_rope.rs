//! RoPE pairing: adjacent-pair rotation of llama.cpp-permuted q/k rows equals Hugging Face's
//! half-split rotation of the original rows (the identity `RopePairing::for_checkpoint` relies on).

use model_llama::config::RopePairing;
use model_llama::forward::RopeTable;

/// llama.cpp's `convert_hf_to_gguf.py` `LlamaModel.permute` on one head's rows:
/// `reshape(2, d/2).swapaxes(0, 1).reshape(d)`, so GGUF row 2j+s is HF row s*d/2 + j.
fn permute(head: &[f32]) -> Vec<f32> {
    let half = head.len() / 2;
    (0..head.len())
        .map(|r| head[(r % 2) * half + r / 2])
        .collect()
}

fn table(pairing: RopePairing, head_dim: usize) -> RopeTable {
    let inv_freq = (0..head_dim / 2)
        .map(|i| 1.0 / 10000f32.powf(2.0 * i as f32 / head_dim as f32))
        .collect();
    RopeTable {
        pairing,
        head_dim,
        inv_freq,
    }
}

#[test]
fn adjacent_on_permuted_rows_equals_half_split_on_hf_rows() {
    let d = 16;
    let hf_head: Vec<f32> = (0..d).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
    for pos in [0, 1, 7, 300] {
        let mut hf = hf_head.clone();
        table(RopePairing::HalfSplit, d).rotate(&mut hf, pos);
        let mut gguf = permute(&hf_head);
        table(RopePairing::Adjacent, d).rotate(&mut gguf, pos);
        assert_eq!(gguf, permute(&hf), "position {pos}");
    }
}

#[test]
fn rotation_matches_closed_form_and_keeps_norm() {
    let d = 8;
    let x: Vec<f32> = vec![1.0, 2.0, -1.0, 0.5, 0.25, -2.0, 3.0, 1.5];
    let mut y = x.clone();
    let t = table(RopePairing::HalfSplit, d);
    t.rotate(&mut y, 5);
    // Pair i = (i, i + 4) turns by 5 · 10000^(-i/4).
    for i in 0..4 {
        let angle = 5.0f64 * 10000f64.powf(-(i as f64) / 4.0);
        let (s, c) = angle.sin_cos();
        let (a, b) = (f64::from(x[i]), f64::from(x[i + 4]));
        assert!((f64::from(y[i]) - (a * c - b * s)).abs() < 1e-5);
        assert!((f64::from(y[i + 4]) - (a * s + b * c)).abs() < 1e-5);
    }
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
    assert!((norm(&x) - norm(&y)).abs() < 1e-4);
}
