//! Launch geometry, argument layouts and variant validation of every `KernelType`.

use kernel_ptx::{Embedding, Gemv, KernelError, KernelType, LaunchDims, ParamKind, SmTarget};
use quant_formats::GgmlType;
use std::collections::HashSet;

const T: SmTarget = SmTarget::Sm90;

fn dims(n: u32, k: u32, m: u32, rows: u32) -> LaunchDims {
    LaunchDims { n, k, m, rows }
}

/// The `.param` names of the entry, in declaration order.
fn declared_params(ptx: &str) -> Vec<(String, String)> {
    ptx.lines()
        .filter_map(|l| l.trim().strip_prefix(".param ."))
        .map(|rest| {
            let mut parts = rest.trim_end_matches(',').split_whitespace();
            let ty = parts.next().unwrap_or_default().to_string();
            let name = parts
                .next()
                .unwrap_or_default()
                .trim_start_matches("param_")
                .to_string();
            (ty, name)
        })
        .collect()
}

#[test]
fn params_match_the_ptx_declarations_in_order() {
    for kt in KernelType::samples() {
        let expected: Vec<(String, String)> = kt
            .params()
            .iter()
            .map(|p| {
                let ty = match p.kind {
                    ParamKind::Ptr => "u64",
                    ParamKind::U32 => "u32",
                    ParamKind::F32 => "f32",
                };
                (ty.to_string(), p.name.to_string())
            })
            .collect();
        assert_eq!(declared_params(&kt.ptx()), expected, "{}", kt.entry_name());
    }
}

#[test]
fn variants_hash_apart_and_names_follow_the_target() {
    let samples = KernelType::samples();
    let set: HashSet<KernelType> = samples.iter().copied().collect();
    assert_eq!(set.len(), samples.len());
    let g = Gemv::new(GgmlType::Q8_0, 4, 4, 1, T).unwrap();
    assert_eq!(KernelType::Gemv(g).entry_name(), "gemv_q8_0_m4_w4_r1");
    let sm80 = KernelType::Gemv(g).with_target(SmTarget::Sm80);
    assert_eq!(sm80.entry_name(), "gemv_q8_0_m4_w4_r1_sm80");
    assert_ne!(sm80, KernelType::Gemv(g));
    assert!(sm80.ptx().contains(".target sm_80"));
}

#[test]
fn gemv_geometry_and_dim_errors() {
    let g = KernelType::Gemv(Gemv::new(GgmlType::Q8_0, 2, 4, 2, T).unwrap());
    let geo = g.launch(&dims(4097, 4096, 2, 0)).unwrap();
    assert_eq!(geo.grid, [2049, 1, 1]);
    assert_eq!(geo.block, [128, 1, 1]);
    assert_eq!(geo.dynamic_shared_bytes, 0);
    for bad in [
        dims(4096, 4080, 2, 0),
        dims(4096, 0, 2, 0),
        dims(0, 4096, 2, 0),
        dims(4096, 4096, 1, 0),
    ] {
        match g.launch(&bad) {
            Err(KernelError::UnsupportedDims { kernel, dims, .. }) => {
                assert_eq!(kernel, "gemv_q8_0_m2_w4_r2");
                assert_eq!(dims, bad);
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
    }
}

#[test]
fn gemv_rejects_invalid_variants() {
    for format in [GgmlType::Q8_1, GgmlType::Q8_K] {
        assert!(matches!(
            Gemv::new(format, 1, 4, 1, T),
            Err(KernelError::UnsupportedFormat { format: f, .. }) if f == format
        ));
    }
    for (m, warps, rows) in [(0, 4, 1), (9, 4, 1), (1, 3, 1), (1, 4, 0), (1, 4, 5)] {
        assert!(
            matches!(
                Gemv::new(GgmlType::Q8_0, m, warps, rows, T),
                Err(KernelError::InvalidVariant { .. })
            ),
            "m={m} warps={warps} rows={rows}"
        );
    }
}

#[test]
fn small_kernel_geometry() {
    let q = KernelType::QuantizeQ8_1 { target: T };
    assert_eq!(q.launch(&dims(0, 4096, 3, 0)).unwrap().grid, [48, 1, 1]);
    assert!(q.launch(&dims(0, 4095, 1, 0)).is_err());

    let norm = KernelType::RmsNorm {
        residual: true,
        target: T,
    };
    let geo = norm.launch(&dims(4096, 0, 0, 5)).unwrap();
    assert_eq!((geo.grid, geo.block), ([5, 1, 1], [256, 1, 1]));
    assert!(norm.launch(&dims(4096, 0, 0, 0)).is_err());

    let add = KernelType::Add { target: T };
    assert_eq!(add.launch(&dims(1000, 0, 0, 3)).unwrap().grid, [12, 1, 1]);

    let rope = KernelType::Rope {
        neox: true,
        target: T,
    };
    assert_eq!(rope.launch(&dims(32, 128, 0, 2)).unwrap().grid, [16, 1, 1]);
    assert!(rope.launch(&dims(32, 127, 0, 2)).is_err());

    let emb = KernelType::Embedding(Embedding::new(GgmlType::Q4_K, T).unwrap());
    assert_eq!(emb.launch(&dims(4096, 0, 0, 7)).unwrap().grid, [16, 7, 1]);
    assert!(emb.launch(&dims(4000, 0, 0, 7)).is_err());
    assert!(Embedding::new(GgmlType::Q5_1, T).is_err());

    let partial = KernelType::ArgmaxPartial { target: T };
    let last = KernelType::ArgmaxFinal { target: T };
    assert_eq!(
        partial.launch(&dims(128_256, 0, 0, 2)).unwrap().grid,
        [32, 2, 1]
    );
    assert_eq!(
        last.launch(&dims(128_256, 0, 0, 2)).unwrap().grid,
        [1, 2, 1]
    );
    assert_eq!(kernel_ptx::kernels::argmax::parts(128_256), 32);
}

#[test]
fn griddepcontrol_only_on_sm90() {
    for kt in KernelType::samples() {
        assert!(
            kt.ptx().contains("griddepcontrol.wait;"),
            "{}",
            kt.entry_name()
        );
        assert!(
            !kt.with_target(SmTarget::Sm80)
                .ptx()
                .contains("griddepcontrol"),
            "{}",
            kt.entry_name()
        );
    }
}

/// `waits_on_grid_dependency` is what the PTX does: gpu-runtime trusts it to enable
/// programmatic dependent launch, which is only safe when the kernel waits before reading.
#[test]
fn grid_dependency_flag_matches_the_ptx() {
    for kt in KernelType::samples()
        .into_iter()
        .flat_map(|kt| [kt, kt.with_target(SmTarget::Sm80)])
    {
        assert_eq!(
            kt.waits_on_grid_dependency(),
            kt.ptx().contains("griddepcontrol.wait;"),
            "{}",
            kt.entry_name()
        );
    }
}
