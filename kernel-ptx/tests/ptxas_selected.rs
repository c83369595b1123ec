//! Assembles every gemv kernel that `select_matvec` / `select_gate_up_swiglu` return on an
//! H200 profile (M = 1..=8, every format) with ptxas: no errors, no spills. The sample set
//! (`tests/ptxas.rs`) holds only the default geometry; selection also picks other rows per M
//! and staged or unstaged bodies. ptxas as in `tests/ptxas.rs`.

use kernel_ptx::{GpuProfileLite, KernelType, gemv_formats, select_gate_up_swiglu, select_matvec};
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

#[test]
fn every_selected_gemv_assembles_for_sm90_without_spills() {
    let h200 = GpuProfileLite {
        sm_count: 132,
        compute_capability: (9, 0),
    };
    let ptxas = find_ptxas();
    let dir =
        std::env::temp_dir().join(format!("kernel-ptx-ptxas-selected-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut seen = BTreeSet::new();
    let mut failed = Vec::new();
    for format in gemv_formats() {
        for m in 1..=8 {
            for kt in [
                select_matvec(format, m, &h200).unwrap(),
                select_gate_up_swiglu(format, m, &h200).unwrap(),
            ] {
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
