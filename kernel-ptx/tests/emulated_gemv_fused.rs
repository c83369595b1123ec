//! The fused gate/up/SwiGLU gemv on the CPU PTX emulator (`emu`) against
//! `silu(vec_dot_row(gate)) * vec_dot_row(up)` from quant-formats, for every weight format.

mod emu;

use emu::gemv::run_gemv;
use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use kernel_ptx::{Gemv, KernelType, SmTarget, gemv_formats};
use quant_formats::vec_dot_row;

#[test]
fn gate_up_swiglu_matches_silu_of_vec_dots() {
    assert_eq!(gemv_formats().len(), 15, "every weight format has a gemv");
    for format in gemv_formats() {
        let (n, m) = (5usize, 3usize);
        let k = 3 * format.block_elems().max(32);
        let gate = quantized_matrix(format, 11, n, k);
        let up = quantized_matrix(format, 12, n, k);
        let row_bytes = gate.len() / n;
        let (x, acts) = gemv_activations(format, &nonzero(13, m * k), k);

        let (warps, rows) = kernel_ptx::kernels::gemv::default_geometry(format);
        let g = Gemv::gate_up_swiglu(format, m as u8, warps, rows, SmTarget::Sm90).unwrap();
        let kt = KernelType::Gemv(g);
        let y = run_gemv(&kt, &[&gate, &up], &x, n, k, m);
        for (j, act) in acts.iter().enumerate() {
            for r in 0..n {
                let rows = r * row_bytes..(r + 1) * row_bytes;
                let gv = vec_dot_row(format, &gate[rows.clone()], act).unwrap();
                let uv = vec_dot_row(format, &up[rows], act).unwrap();
                let want = gv / (1.0 + (-gv).exp()) * uv;
                let got = y[j * n + r];
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs().max(1.0),
                    "{}: column {j} row {r}: got {got}, want {want}",
                    kt.entry_name()
                );
            }
        }
    }
}
