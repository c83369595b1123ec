//! The fused gate/up/SwiGLU gemv on the CPU PTX emulator (`emu`) against
//! `silu(vec_dot_row(gate)) * vec_dot_row(up)` from quant-formats, for every weight format.

mod emu;

use emu::inputs::{gemv_activations, nonzero, quantized_matrix};
use emu::{Arg, Gpu};
use kernel_ptx::{Gemv, KernelType, LaunchDims, SmTarget, gemv_formats};
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
        let dims = LaunchDims {
            n: n as u32,
            k: k as u32,
            m: m as u32,
            rows: 0,
        };
        let geo = kt.launch(&dims).unwrap();
        let mut gpu = Gpu::default();
        let (pg, pu, px) = (gpu.alloc(&gate), gpu.alloc(&up), gpu.alloc(&x));
        let py = gpu.alloc_f32(&vec![f32::NAN; m * n]);
        let args = [
            Arg::Ptr(pg),
            Arg::Ptr(pu),
            Arg::Ptr(px),
            Arg::Ptr(py),
            Arg::U32(n as u32),
            Arg::U32(k as u32),
        ];
        assert_eq!(args.len(), kt.params().len());
        gpu.launch(&kt.ptx(), geo.grid, geo.block, &args);
        let y = gpu.f32s(py);
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
