//! Assembles every sample kernel, and every gemv kernel selection returns, with ptxas
//! (`-arch=sm_90`, and sm_80 for a subset): no errors, no spills. Prints registers per kernel.
//! ptxas comes from PATH or from the PyPI wheel `nvidia-cuda-nvcc-cu12`
//! (site-packages/nvidia/cuda_nvcc/bin/ptxas); without it the test fails.

use kernel_ptx::{
    GpuProfileLite, KernelType, SmTarget, WeightShape, gemv_formats, select_gate_up_swiglu,
    select_matvec, select_tensor_core_matvec,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn find_ptxas() -> PathBuf {
    if let Ok(out) = Command::new("ptxas").arg("--version").output()
        && out.status.success()
    {
        return PathBuf::from("ptxas");
    }
    let script = "import nvidia.cuda_nvcc, os; print(os.path.join(list(nvidia.cuda_nvcc.__path__)[0], 'bin', 'ptxas'))";
    for python in ["python3", "python"] {
        if let Ok(out) = Command::new(python).args(["-c", script]).output()
            && out.status.success()
        {
            let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if path.is_file() {
                return path;
            }
        }
    }
    panic!(
        "ptxas not found: put it on PATH or `pip install nvidia-cuda-nvcc-cu12==12.9.86` \
         (the PTX checks must run, they are not optional)"
    );
}

/// Assembles `kt`'s module; returns ptxas's `-v` report.
fn assemble(ptxas: &Path, dir: &Path, kt: &KernelType) -> String {
    let name = kt.entry_name();
    let ptx = dir.join(format!("{name}.ptx"));
    std::fs::write(&ptx, kt.ptx()).unwrap();
    let out = Command::new(ptxas)
        .arg(format!("-arch={}", kt.target().name()))
        .arg("-v")
        .arg("-o")
        .arg(dir.join(format!("{name}.cubin")))
        .arg(&ptx)
        .output()
        .expect("running ptxas");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ptxas failed on {name}:\n{report}");
    assert!(
        !report.contains("error"),
        "ptxas reported an error on {name}:\n{report}"
    );
    for line in report.lines().filter(|l| l.contains("bytes spill")) {
        let spills: Vec<u64> = line
            .split(',')
            .filter(|part| part.contains("bytes spill"))
            .filter_map(|part| part.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(
            spills.iter().all(|&s| s == 0),
            "{name} spills registers: {line}"
        );
    }
    report
}

fn registers(report: &str) -> String {
    report
        .lines()
        .find(|l| l.contains("Used") && l.contains("registers"))
        .map_or_else(|| "?".to_string(), |l| l.trim().to_string())
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kernel-ptx-ptxas-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_sample_assembles_for_sm90_without_spills() {
    let ptxas = find_ptxas();
    let dir = scratch_dir("sm90");
    let samples = KernelType::samples();
    assert!(!samples.is_empty());
    for kt in &samples {
        assert_eq!(kt.target(), SmTarget::Sm90);
        let report = assemble(&ptxas, &dir, kt);
        println!("{:<40} {}", kt.entry_name(), registers(&report));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn samples_also_assemble_for_sm80() {
    let ptxas = find_ptxas();
    let dir = scratch_dir("sm80");
    // One variant per family and format (the first of each entry-name prefix).
    let mut seen = std::collections::HashSet::new();
    for kt in KernelType::samples() {
        let family = kt
            .entry_name()
            .split("_m")
            .next()
            .unwrap_or_default()
            .to_string();
        if seen.insert(family) {
            let kt = kt.with_target(SmTarget::Sm80);
            let ptx = kt.ptx();
            assert!(ptx.contains(".target sm_80") && !ptx.contains("griddepcontrol"));
            let report = assemble(&ptxas, &dir, &kt);
            println!("{:<40} {}", kt.entry_name(), registers(&report));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A kernel touching every builder instruction, so ptxas checks the syntax of the ones no
/// sample uses yet.
fn every_instruction(target: SmTarget) -> String {
    use kernel_ptx::ParamKind;
    use kernel_ptx::builder::*;
    let mut b = KernelBuilder::new("every_instruction", target);
    b.max_threads(128);
    let p = b.param("p", ParamKind::Ptr);
    let n = b.param("n", ParamKind::U32);
    let eps = b.param("eps", ParamKind::F32);
    b.griddep_wait();
    b.griddep_launch_dependents();
    let smem = b.shared_array("tile", 512, 16);
    let dynamic = b.dynamic_shared("dyn_smem");
    let tid = b.mov(Ty::U32, Special::TidX);
    let lane = b.mov(Ty::U32, Special::LaneId);
    let ntid = b.mov(Ty::U32, Special::NtidX);
    let v4 = b.ld_vec(Space::GlobalNcNoAllocate, Ty::U32, 4, Addr::reg(p));
    let v2 = b.ld_vec(Space::GlobalNc, Ty::F32, 2, Addr::reg_off(p, 16));
    let h = b.ld(Space::Global, Ty::B16, Addr::reg_off(p, 2));
    let byte = b.ld(Space::GlobalNc, Ty::S8, Addr::reg_off(p, 3));
    let a = b.add(Ty::U32, tid, n);
    let a = b.sub(Ty::U32, a, lane);
    let a = b.mul(Ty::U32, a, ntid);
    let a = b.mad_lo(Ty::U32, a, 3u32, v4[0]);
    let a = b.shl(Ty::U32, a, 1u32);
    let a = b.shr(Ty::U32, a, 1u32);
    let a = b.and(Ty::U32, a, v4[1]);
    let a = b.or(Ty::U32, a, v4[2]);
    let a = b.xor(Ty::U32, a, v4[3]);
    let a = b.not(Ty::U32, a);
    let a = b.min(Ty::U32, a, 1000u32);
    let a = b.max(Ty::S32, a, byte);
    let a = b.bfe(Ty::U32, a, 4u32, 4u32);
    let a = b.prmt(a, tid, 0x3210u32);
    let a = b.shf_r(a, tid, 16u32);
    let a = b.div(Ty::U32, a, 3u32);
    let a = b.rem(Ty::U32, a, 7u32);
    let a = b.dp4a(a, v4[0], a);
    let w = b.mul_wide(Ty::U32, a, 8u32);
    let addr = b.add(Ty::U64, p, w);
    let addr = b.index_addr(addr, tid, 4);
    let f = b.cvt(Ty::F32, Ty::S32, Some(Round::Rn), a);
    let f = b.fma(Ty::F32, f, v2[0], eps);
    let f = b.add(Ty::F32, f, v2[1]);
    let f = b.mul(Ty::F32, f, f);
    let f = b.div(Ty::F32, f, 3.0f32);
    let f = b.abs(Ty::F32, f);
    let f = b.neg(Ty::F32, f);
    let f = b.copysign(Ty::F32, f, 2.0f32);
    let f = b.min(Ty::F32, f, 1.0f32);
    for op in [
        FloatUnary::RcpRn,
        FloatUnary::RcpApprox,
        FloatUnary::SqrtRn,
        FloatUnary::SqrtApprox,
        FloatUnary::RsqrtApprox,
        FloatUnary::Ex2Approx,
        FloatUnary::Lg2Approx,
        FloatUnary::SinApprox,
        FloatUnary::CosApprox,
    ] {
        let g = b.float_unary(op, Ty::F32, f);
        b.st(Space::Global, Ty::F32, Addr::reg(addr), g);
    }
    let hf = b.cvt(Ty::F32, Ty::F16, None, h);
    let bf = b.cvt(Ty::F32, Ty::Bf16, None, h);
    let f = b.add(Ty::F32, f, hf);
    let f = b.add(Ty::F32, f, bf);
    let back = b.cvt(Ty::F16, Ty::F32, Some(Round::Rn), f);
    let back_bf = b.cvt(Ty::Bf16, Ty::F32, Some(Round::Rn), f);
    let packed = b.pack_b16x2(back, back_bf);
    let (lo, _hi) = b.unpack_b16x2(packed);
    let q = b.cvt_sat(Ty::S8, Ty::F32, Round::Rni, f);
    let t = b.cvt(Ty::F32, Ty::F32, Some(Round::Rzi), f);
    let i = b.cvt(Ty::S32, Ty::F32, Some(Round::Rmi), t);
    let wide = b.pack_b32x2(i, q);
    let sel = b.setp(Cmp::Lt, Ty::F32, f, eps);
    let nan = b.setp(Cmp::Nan, Ty::F32, f, f);
    let chosen = b.selp(Ty::U32, i, q, sel);
    let s = b.shfl(Shfl::Bfly, f, 16u32);
    let s = b.shfl(Shfl::Down, s, 1u32);
    let s = b.shfl(Shfl::Up, s, 1u32);
    let s = b.shfl(Shfl::Idx, s, 0u32);
    let base = b.shared_base(&smem);
    let dyn_base = b.shared_base(&dynamic);
    b.st(Space::Shared, Ty::F32, Addr::reg(base), s);
    b.st_vec(Space::Shared, Ty::U32, Addr::reg_off(base, 16), &v4);
    let copy_dst = b.add(Ty::U32, base, 32u32);
    b.cp_async_16(copy_dst, p);
    b.cp_async_commit();
    b.cp_async_wait(0);
    b.bar_warp_sync();
    b.bar_sync(0);
    let from_smem = b.ld(Space::Shared, Ty::F32, Addr::reg_off(base, 4));
    b.st(Space::Shared, Ty::F32, Addr::reg(dyn_base), from_smem);
    let ia = [a, chosen, i, q];
    let acc = b.mma_m16n8k32_s8(ia, [a, i], ia);
    let fa = [from_smem, s, f, f];
    let facc = b.mma_m16n8k16(MmaFloat::F16, ia, [a, i], fa);
    let facc = b.mma_m16n8k16(MmaFloat::Bf16, ia, [a, i], facc);
    let done = b.label("done");
    b.bra_if(nan, false, &done);
    b.predicated(sel, true, |b| {
        b.st_vec(Space::Global, Ty::U32, Addr::reg(p), &acc);
        b.st_vec(Space::Global, Ty::F32, Addr::reg_off(p, 16), &facc);
    });
    b.st(Space::Global, Ty::B64, Addr::reg_off(p, 32), wide);
    b.st(Space::Global, Ty::B16, Addr::reg_off(p, 40), lo);
    b.st(Space::Global, Ty::S8, Addr::reg_off(p, 42), q);
    b.place(&done);
    b.ret();
    render_module(target, &[b.finish()])
}

#[test]
fn every_builder_instruction_assembles() {
    let ptxas = find_ptxas();
    let dir = scratch_dir("builder");
    for target in [SmTarget::Sm90, SmTarget::Sm80] {
        let ptx_path = dir.join(format!("every_instruction_{}.ptx", target.name()));
        std::fs::write(&ptx_path, every_instruction(target)).unwrap();
        let out = Command::new(&ptxas)
            .arg(format!("-arch={}", target.name()))
            .arg("-o")
            .arg(dir.join("every_instruction.cubin"))
            .arg(&ptx_path)
            .output()
            .expect("running ptxas");
        assert!(
            out.status.success(),
            "ptxas rejected the builder's instructions for {}:\n{}",
            target.name(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Every gemv kernel that `select_matvec` / `select_gate_up_swiglu` / `select_tensor_core_matvec`
/// return on an H200 profile (M = 1..=8, every format; tensor-core ones plain and fused): the
/// samples hold only the default geometry, while selection also picks other rows per M and
/// staged or unstaged bodies.
#[test]
fn every_selected_gemv_assembles_for_sm90_without_spills() {
    let h200 = GpuProfileLite {
        sm_count: 132,
        compute_capability: (9, 0),
    };
    let ptxas = find_ptxas();
    let dir = scratch_dir("selected");
    let mut seen = BTreeSet::new();
    let mut failed = Vec::new();
    for format in gemv_formats() {
        // Every Llama-3-8B shape at every M.
        let shapes = [
            (4096, 4096),
            (1024, 4096),
            (14336, 4096),
            (4096, 14336),
            (128256, 4096),
        ];
        for (m, (n, k)) in (1..=8).flat_map(|m| shapes.map(|s| (m, s))) {
            let shape = WeightShape { n, k };
            let tensor_core = select_tensor_core_matvec(format, m, &h200).unwrap();
            let tensor_core_fused = tensor_core.map(|kt| match kt {
                KernelType::Gemv(g) => KernelType::Gemv(g.with_gate_up_swiglu()),
                other => other,
            });
            for kt in [
                Some(select_matvec(format, m, shape, &h200).unwrap()),
                Some(select_gate_up_swiglu(format, m, shape, &h200).unwrap()),
                tensor_core,
                tensor_core_fused,
            ]
            .into_iter()
            .flatten()
            {
                if seen.insert(kt.entry_name())
                    && std::panic::catch_unwind(|| assemble(&ptxas, &dir, &kt)).is_err()
                {
                    failed.push(kt.entry_name());
                }
            }
        }
    }
    assert!(seen.len() >= 2 * 8 * gemv_formats().len());
    assert!(failed.is_empty(), "spill or fail: {failed:?}");
    std::fs::remove_dir_all(&dir).ok();
}
