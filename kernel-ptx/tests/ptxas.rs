//! Assembles every sample kernel with ptxas (`-arch=sm_90`, and sm_80 for a subset): no errors,
//! no spills. Prints registers per kernel. ptxas comes from PATH or from the PyPI wheel
//! `nvidia-cuda-nvcc-cu12` (site-packages/nvidia/cuda_nvcc/bin/ptxas); without it the test fails.

use kernel_ptx::{KernelType, SmTarget};
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
